/**
 * `npm run bench:devices`: calibrates the edge device classes (cli/src/device-classes.ts). The reference model
 * (mobilenet_v2, 224×224, 1 onnxruntime thread) runs unthrottled (the cloud) and under each class's cgroup quota,
 * in interleaved rounds, each round a fresh process per configuration. Prints each class's median against its
 * published figure, the edge:cloud speed ratio, the quota the published figure implies, and a noise check: the
 * `pi` class twice, in two groups of the same quota, run side by side in the same rounds.
 *
 * Usage: npm run bench:devices [-- --rounds 5 --runs 10]
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  CALIBRATION_MODEL,
  createCpuQuotaGroup,
  DEVICE_CLASSES,
  DEVICE_CLASS_NAMES,
  REPO_ROOT,
  type CpuQuotaGroup,
} from '@cleave/cli';
import { median } from '@cleave/proto';
import { ensureZooModel } from '../test/harness/zoo-models.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '10' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  process.stdout.write(
    'npm run bench:devices [-- --rounds N --runs N]: mobilenet_v2 under each device-class quota vs unthrottled and vs the published figure\n',
  );
  process.exit(0);
}
const rounds = Number(args.rounds);
const runs = Number(args.runs);
if (!(Number.isInteger(rounds) && rounds > 0 && Number.isInteger(runs) && runs > 0)) {
  process.stderr.write('bench:devices: --rounds and --runs must be positive integers\n');
  process.exit(2);
}
const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const TIMER = join(REPO_ROOT, 'bench', 'whole-model-timer.ts');
const model = await ensureZooModel(CALIBRATION_MODEL);

interface Config {
  readonly label: string;
  readonly group: CpuQuotaGroup | undefined;
  readonly samples: number[];
}
const configs: Config[] = [{ label: 'cloud (unthrottled)', group: undefined, samples: [] }];
for (const name of DEVICE_CLASS_NAMES) {
  configs.push({
    label: name,
    group: await createCpuQuotaGroup(`cleave-bench-device-${name}`, DEVICE_CLASSES[name].cores),
    samples: [],
  });
}
// The noise check: a second group with the pi quota, measured in the same rounds as the first.
configs.push({
  label: 'pi (second group)',
  group: await createCpuQuotaGroup('cleave-bench-device-pi-b', DEVICE_CLASSES.pi.cores),
  samples: [],
});
if (configs.some((c) => c.group !== undefined && c.group.cores === null)) {
  process.stderr.write(
    `warning: quotas unavailable, every class runs unthrottled: ${configs[1]!.group!.unavailableReason}\n`,
  );
}

/** One timing process: started unthrottled, moved into `group` once loaded, then timed there. */
async function time(group: CpuQuotaGroup | undefined): Promise<number[]> {
  const child = spawn(TSX, [TIMER, model, String(runs), '3'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('ready\n')) resolve();
    });
    void exited.then(() => reject(new Error('whole-model-timer exited before it was ready')));
  });
  // tsx runs the script in a child of its own: move every process of the tree.
  for (const pid of await processTree(child.pid!)) await group?.adopt(pid);
  child.stdin.end('go\n');
  const code = await exited;
  if (code !== 0) throw new Error(`whole-model-timer exited ${String(code)}`);
  return (JSON.parse(out.slice('ready\n'.length)) as { samplesMs: number[] }).samplesMs;
}

/** `pid` and its descendants, from /proc. */
async function processTree(pid: number): Promise<number[]> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  const kids = children.trim() === '' ? [] : children.trim().split(/\s+/).map(Number);
  return [pid, ...(await Promise.all(kids.map(processTree))).flat()];
}

for (let r = 0; r < rounds; r++) {
  // Rotate the order each round so no configuration always runs first (or right after the slowest).
  for (let k = 0; k < configs.length; k++) {
    const c = configs[(k + r) % configs.length]!;
    c.samples.push(...(await time(c.group)));
  }
  process.stderr.write(`round ${r + 1}/${rounds} done\n`);
}
for (const c of configs) await c.group?.remove();

const cloudMs = median(configs[0]!.samples);
const rows = configs.map((c) => {
  const ms = median(c.samples);
  const cls = (DEVICE_CLASSES as Record<string, (typeof DEVICE_CLASSES)['pi'] | undefined>)[c.label.split(' ')[0]!];
  const anchor = cls && 'medianMs' in cls.anchor ? cls.anchor : undefined;
  return {
    config: c.label,
    cores: c.group?.cores ?? null,
    n: c.samples.length,
    medianMs: Number(ms.toFixed(2)),
    edgeToCloud: Number((ms / cloudMs).toFixed(2)),
    publishedMs: anchor?.medianMs ?? null,
    measuredOverPublished: anchor ? Number((ms / anchor.medianMs).toFixed(3)) : null,
    // The quota is not linear in speed near its floor, so this is one step of a fixed-point iteration: rerun with it.
    matchingCores: anchor && c.group?.cores ? Number(((c.group.cores * ms) / anchor.medianMs).toFixed(4)) : null,
  };
});
const header =
  '| config | cores | n | median ms | edge:cloud | published ms | measured ÷ published | quota that would match |';
const lines = rows.map(
  (r) =>
    `| ${r.config} | ${r.cores ?? '—'} | ${r.n} | ${r.medianMs} | ${r.edgeToCloud}× | ${r.publishedMs ?? '—'} | ${r.measuredOverPublished ?? '—'} | ${r.matchingCores ?? '—'} |`,
);
const a = rows.find((r) => r.config === 'pi')!;
const b = rows.find((r) => r.config === 'pi (second group)')!;
const noisePct = (100 * Math.abs(a.medianMs - b.medianMs)) / Math.min(a.medianMs, b.medianMs);
process.stdout.write(
  `${header}\n|${'---|'.repeat(8)}\n${lines.join('\n')}\n\n` +
    `noise: two pi groups in the same rounds differ by ${noisePct.toFixed(1)}% (target ≤ 3%)\n` +
    `sources: ${[
      ...new Set(
        DEVICE_CLASS_NAMES.map((n) => DEVICE_CLASSES[n].anchor)
          .filter((x) => 'source' in x)
          .map((x) => ('source' in x ? x.source : '')),
      ),
    ].join('; ')}\n`,
);
