/**
 * Planner quality: does the plan pick a split within 5% of the measured best?
 *
 * For each model, the edge is a separate process under a cgroup CPU quota (a slower device) and
 * the cloud is this unthrottled process. The planner sees only the two profiles. Then every
 * candidate is executed for real: the head runs in a fresh throttled process, its actual output
 * tensors go to the cloud side, and the tail runs on them. Transfer time is bytes × 8 / bandwidth
 * plus the RTT, the request's bytes up and the reply's down: every final output the tail returned (f32 on the wire,
 * as the plan assumes), not the first output alone. The table compares the planner's choice with the measured best per bandwidth.
 *
 * Usage: npm run bench:planner [-- --quota 0.2 --runs 15 --rtt 5 --models fmnist,mobilenet_v2]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { replyBytes } from '@cleave/proto';
import { createCpuQuotaGroup, EXAMPLE_MODEL_BACKBONE, REPO_ROOT } from '@cleave/cli';
import {
  prepareModel,
  buildPlan,
  lookupPlan,
  planCandidates,
  profileCandidates,
  readProfile,
  summarise,
  type ModelProfile,
} from '@cleave/partitioner';
import { benchInput } from './bench-input.js';
import { ensureZooModel } from '../test/harness/zoo-models.js';

const { values: args } = parseArgs({
  options: {
    quota: { type: 'string', default: '0.2' },
    runs: { type: 'string', default: '15' },
    rtt: { type: 'string', default: '5' },
    models: { type: 'string', default: 'fmnist,mobilenet_v2' },
    bandwidths: { type: 'string', default: '0.13,1.1,5.85,18.88,100' },
  },
});
const quota = Number(args.quota);
const runs = Number(args.runs);
const rttMs = Number(args.rtt);
const bandwidths = args.bandwidths.split(',').map(Number);
const CLEAVE = join(REPO_ROOT, 'cli', 'dist', 'main.js');
const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');

const edgeGroup = await createCpuQuotaGroup('cleave-bench-edge', quota);
if (edgeGroup.cores === null) process.stderr.write(`warning: edge NOT throttled: ${edgeGroup.unavailableReason}\n`);

/** Runs a command in the throttled edge group and returns its stdout. */
function runOnEdge(command: string, commandArgs: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = edgeGroup.spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited ${code}`))));
  });
}

async function modelPath(name: string): Promise<string> {
  return name === 'fmnist' ? EXAMPLE_MODEL_BACKBONE : ensureZooModel(name);
}

interface Row {
  model: string;
  mbps: number;
  chosen: string;
  predictedMs: number;
  chosenMeasuredMs: number;
  best: string;
  bestMeasuredMs: number;
  gapPct: number;
}
const rows: Row[] = [];

for (const name of args.models.split(',')) {
  const path = await modelPath(name);
  const work = await mkdtemp(join(tmpdir(), `cleave-bench-${name}-`));
  process.stderr.write(`[${name}] profiling cloud (here) and edge (quota ${edgeGroup.cores ?? 'none'} cores)\n`);
  const { model, candidates, finalOutputs, probed, task } = await prepareModel(path);
  // The reply carries every final output; the plan sizes it from their specs, the execution below measures it.
  const reply = replyBytes(
    finalOutputs.map((name) => {
      const spec = model.outputs.find((o) => o.name === name)!;
      const elements =
        probed.get(name)?.elementsPerSample ??
        spec.shape.slice(1).reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1);
      return { dtype: spec.dtype, elementsPerSample: elements };
    }),
  );
  process.stderr.write(`[${name}] task ${task}; final outputs ${finalOutputs.join(', ')} (${reply.f32} B per reply)\n`);
  const cloud: ModelProfile = await profileCandidates(model, candidates, { runs, nodeBreakdown: false });
  await runOnEdge(process.execPath, [
    CLEAVE,
    'profile',
    path,
    '--out',
    join(work, 'edge.json'),
    '--runs',
    String(runs),
  ]);
  const edge = await readProfile(join(work, 'edge.json'));
  const planInputs = planCandidates(
    candidates.map((c) => (c.kind === 'edge-only' ? c : { ...c, replyBytesPerSample: reply })),
    edge,
    cloud,
  );
  // Only f32 so that predicted and executed payloads are the same bytes.
  const plan = buildPlan(planInputs, { rttMs, maxPayloadBytes: 8 * 1024 * 1024, codecs: ['f32'] }, ['latency']);

  process.stderr.write(`[${name}] executing ${candidates.length} candidates: heads on the edge, tails here\n`);
  const heads = (
    JSON.parse(await runOnEdge(TSX, [join(REPO_ROOT, 'bench', 'edge-head-worker.ts'), path, work, String(runs)])) as {
      heads: Record<
        string,
        { medianMs: number; tensors: { name: string; file: string; type: string; dims: number[] }[] }
      >;
    }
  ).heads;
  const measured = new Map<string, { edgeMs: number; cloudMs: number; bytes: number; replyBytes: number }>();
  for (const c of candidates) {
    const head = heads[c.id];
    let feeds: Record<string, ort.Tensor> = benchInput(model);
    let bytes =
      c.kind === 'cloud-only' ? Object.values(feeds).reduce((n, t) => n + (t.data as Float32Array).byteLength, 0) : 0;
    if (head && c.kind === 'split') {
      feeds = {};
      for (const t of head.tensors) {
        const raw = await readFile(t.file);
        bytes += raw.byteLength;
        const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
        feeds[t.name] =
          t.type === 'int64'
            ? new ort.Tensor('int64', new BigInt64Array(buf), t.dims)
            : new ort.Tensor('float32', new Float32Array(buf), t.dims);
      }
    }
    let cloudMs = 0;
    let replyBytesMeasured = 0;
    if (c.tail) {
      const session = await ort.InferenceSession.create(c.tail(), { intraOpNumThreads: 1, interOpNumThreads: 1 });
      const out = await session.run(feeds);
      for (const final of finalOutputs) {
        const t = out[final];
        if (t === undefined) throw new Error(`${c.id}: the tail returned no final output '${final}'`);
        replyBytesMeasured += (t.data as { byteLength: number }).byteLength;
      }
      const samples: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await session.run(feeds);
        samples.push(performance.now() - t0);
      }
      await session.release();
      cloudMs = summarise(samples, 1).medianMs;
    }
    measured.set(c.id, { edgeMs: head?.medianMs ?? 0, cloudMs, bytes, replyBytes: replyBytesMeasured });
  }
  const envelope = 1024; // the planner's per-request envelope, counted the same way here
  const latency = (id: string, mbps: number): number => {
    const m = measured.get(id)!;
    const c = candidates.find((x) => x.id === id)!;
    const net = c.kind === 'edge-only' ? 0 : ((m.bytes + envelope + m.replyBytes) * 8) / (mbps * 1000) + rttMs;
    return m.edgeMs + net + m.cloudMs;
  };
  for (const mbps of bandwidths) {
    const choice = lookupPlan(plan, 'latency', mbps)!;
    const ranked = candidates.map((c) => ({ id: c.id, ms: latency(c.id, mbps) })).sort((a, b) => a.ms - b.ms);
    const best = ranked[0]!;
    const chosenMs = latency(choice.candidate, mbps);
    const predicted = planInputs.find((p) => p.id === choice.candidate)!;
    const predictedMs =
      predicted.edgeMs +
      predicted.cloudMs +
      (predicted.kind === 'edge-only'
        ? 0
        : ((predicted.bytesPerSample.f32 + envelope + (predicted.replyBytesPerSample?.f32 ?? 0)) * 8) / (mbps * 1000) +
          rttMs);
    rows.push({
      model: name,
      mbps,
      chosen: choice.candidate,
      predictedMs,
      chosenMeasuredMs: chosenMs,
      best: best.id,
      bestMeasuredMs: best.ms,
      gapPct: (chosenMs / best.ms - 1) * 100,
    });
  }
  await rm(work, { recursive: true, force: true });
}
await edgeGroup.remove();

const header = [
  'model',
  'Mbps',
  'planner choice',
  'predicted ms',
  'measured ms',
  'measured best',
  'best ms',
  'gap %',
  'within 5%',
];
const table = rows.map((r) => [
  r.model,
  String(r.mbps),
  r.chosen,
  r.predictedMs.toFixed(2),
  r.chosenMeasuredMs.toFixed(2),
  r.best,
  r.bestMeasuredMs.toFixed(2),
  r.gapPct.toFixed(2),
  r.gapPct <= 5 ? 'yes' : 'NO',
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
console.log(
  `\nPlanner quality: edge = 1 thread under a ${edgeGroup.cores ?? 'NO'} core cgroup quota, cloud = 1 unthrottled thread, RTT ${rttMs} ms, f32 wire, medians of ${runs} runs`,
);
console.log(line(header));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const r of table) console.log(line(r));
const within = rows.filter((r) => r.gapPct <= 5).length;
console.log(`\n${within}/${rows.length} setups within 5% of the measured best`);
