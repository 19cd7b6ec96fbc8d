// Real pretrained models that ship inside an npm package, as a user would bring them: refused with a message that
// names --input-shape and shows an example for their own input, then partitioned with the flag through the CLI,
// every candidate exact, and served end to end on every path.
import { access, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { parseBundleManifest } from '@cleave/proto';
import {
  PRETRAINED_MODELS,
  pretrainedModelPath,
  runCleave,
  serveAndCompare,
  testPublisher,
  useTestNats,
} from '../harness/mod.js';

const nats = useTestNats();
let admin: NatsConnection;
let work: string;

beforeAll(async () => {
  admin = await connect({ servers: nats().url });
  work = await mkdtemp(join(tmpdir(), 'pretrained-'));
});
afterAll(async () => {
  await admin?.close();
});

describe.each(PRETRAINED_MODELS)('pretrained $name ($npmPackage, $file)', (model) => {
  it('without --input-shape: a one-line error naming the flag with an example for its input, and no bundle', async () => {
    const path = await pretrainedModelPath(model);
    const out = join(work, `${model.name}-refused`);
    const result = await runCleave(['partition', path, '--out', out], { timeoutMs: 60_000 });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/--input-shape x=3x\d+x\d+/);
    await expect(access(out)).rejects.toThrow();
  });

  it('partitions with --input-shape and serves every output the same on edge-only, a split in the cloud, cloud-only and fallback', async () => {
    const path = await pretrainedModelPath(model);
    const out = join(work, model.name);
    const flags = model.inputShapes.flatMap((s) => ['--input-shape', s]);
    const result = await runCleave(
      [
        'partition',
        path,
        '--out',
        out,
        '--model-id',
        model.name,
        '--runs',
        '2',
        '--sign-key',
        testPublisher().seedFile,
        ...flags,
      ],
      {
        timeoutMs: 180_000,
      },
    );
    expect(result.code, result.stderr).toBe(0);
    const manifest = parseBundleManifest(JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')));
    expect(manifest.candidates.filter((c) => c.kind === 'split').length).toBeGreaterThan(0);
    // The batch stays dynamic; the other dims are the ones given.
    const dims = model.inputShapes[0]!.split('=')[1]!.split('x').map(Number);
    expect(manifest.model.inputs[0]!.shape.slice(1)).toEqual(dims);
    expect(typeof manifest.model.inputs[0]!.shape[0]).not.toBe('number');
    // Every path agrees at onnxruntime's default (most optimized) level. The detector's map is near zero on the
    // check's input, and its fusions' float rounding once measured 0.7% of that: it ran unoptimized, 1.8× slower.
    expect(manifest.model.sessionOptions).toBeUndefined();
    await serveAndCompare({ admin, ...nats() }, { dir: out, manifest, version: manifest.version }, model.name);
  }, 300_000);
});
