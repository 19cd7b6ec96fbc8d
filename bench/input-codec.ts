/**
 * The cloud-only input codec against the PNG file a camera would send: bytes and encode time of u8-deflate (the
 * exact 8-bit palette form, PNG's row filters, DEFLATE), int8 and f32, on the bench's own inputs (Fashion-MNIST t10k
 * at 28×28, upsampled to 96×96 grey, and to 224×224 RGB normalised as torchvision does). The PNG files are pngjs's
 * (adaptive filters, zlib level 9), made once per image as the side-by-side bench's baseline does.
 *
 * Usage, from a built repository root: npx tsx bench/input-codec.ts [--images N]   (or npm run bench:input-codec)
 */
import { Command, Option } from 'commander';
import { encodeTensor, median } from '@cleave/proto';
import { loadBenchImages, type InputKind } from './side-by-side/bench-images.js';

const program = new Command('npm run bench:input-codec --')
  .description('bytes and encode time of the cloud-only input codecs against the PNG file of each input')
  .addOption(
    new Option('--images <n>', 'images per input kind').default(50).argParser((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--images must be a positive integer, got '${v}'`);
      return n;
    }),
  )
  .showHelpAfterError();
const { images: count } = program.parse().opts<{ images: number }>();

const KINDS: readonly InputKind[] = ['gray28', 'gray96', 'rgb224', 'rgb256'];
const CODECS = ['u8-deflate', 'int8', 'f32'] as const;
const ROUNDS = 3;

const rows: string[] = [];
for (const kind of KINDS) {
  const images = await loadBenchImages(kind, 0, count);
  const png = median(images.map((i) => i.png.byteLength));
  const cells: string[] = [`${kind} (${images[0]!.dims.join('×')})`, `${png} B`];
  for (const codec of CODECS) {
    const sizes: number[] = [];
    const times: number[] = [];
    // The first rounds warm the JIT; the last one is timed.
    for (let round = 0; round < ROUNDS; round++) {
      for (const image of images) {
        const started = performance.now();
        const encoded = encodeTensor('input', image.tensor, image.dims, codec);
        if (round === ROUNDS - 1) {
          times.push(performance.now() - started);
          sizes.push(encoded.data.byteLength);
        }
      }
    }
    const bytes = median(sizes);
    cells.push(`${bytes} B (${(bytes / png).toFixed(2)}×)`, `${median(times).toFixed(3)} ms`);
  }
  rows.push(`| ${cells.join(' | ')} |`);
}
const header = ['input', 'PNG file', ...CODECS.flatMap((c) => [`${c} bytes (÷ PNG)`, `${c} encode`])];
process.stdout.write(
  [
    `Medians over ${count} images per kind; encode is one thread of this machine, unthrottled.`,
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows,
    '',
  ].join('\n'),
);
