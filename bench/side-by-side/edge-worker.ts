/**
 * One emulated edge device of the side-by-side bench. The parent starts one per strategy, each in its own cgroup CPU
 * quota (so a busy strategy never delays another's timers or link probes), and drives them over IPC, one request at
 * a time: the whole model (edge-only), a NATS request carrying the raw tensor or a PNG file (cloud-only), a head
 * plus an f32 tail request (best static split), or the real edge agent with its calibrated bundle (Cleave). Each
 * network strategy has its own connection through its own link emulator, so the parent counts each one's bytes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { decodeAnyTensor, parseBundleManifest, type BundleManifest, type TensorSpec } from '@cleave/proto';
import { inferRequest, requestTail } from '../../test/harness/cloud-fixtures.js';
import { startTestAgent, type TestAgent } from '../../test/harness/edge-fixtures.js';
import { loadBenchImages, type BenchImage } from './bench-images.js';
import { cloudOnlySubject } from './cloud-only-responder.js';
import {
  answerOf,
  benchFinals,
  splitRawReply,
  type BenchFinals,
  type BenchTensor,
  type RequestAnswer,
} from './final-answers.js';
import type { FromWorker, NetworkStrategy, RunResult, ToWorker, WorkerModel } from './worker-protocol.js';

type Init = Extract<ToWorker, { type: 'init' }>;
type Run = Extract<ToWorker, { type: 'run' }>;

interface Loaded {
  readonly spec: WorkerModel;
  readonly manifest: BundleManifest;
  /** Every final output a request answers with, and the task that says how to read the primary one. */
  readonly finals: BenchFinals;
  readonly finalSpecs: readonly TensorSpec[];
  readonly sessions: Map<string, Promise<ort.InferenceSession>>;
}

const send = (m: FromWorker): void => void process.send?.(m);
let init: Init;
const models = new Map<string, Loaded>();
const conns = new Map<NetworkStrategy, NatsConnection>();
let agent: TestAgent | undefined;

function session(model: Loaded, path: string): Promise<ort.InferenceSession> {
  let s = model.sessions.get(path);
  if (s === undefined) {
    s = ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    model.sessions.set(path, s);
  }
  return s;
}

/**
 * The final outputs' specs with every dim a number: the cloud-only reply carries no dims, and a model with dynamic
 * spatial dims (paddle2onnx's text detector) declares its outputs' symbolically even when its input is fixed. One
 * run of the full model on the first image tells them; a fully declared model needs none.
 */
async function concreteSpecs(m: Loaded): Promise<readonly TensorSpec[]> {
  const concrete = (spec: TensorSpec) => spec.shape.every((d, i) => i === 0 || typeof d === 'number');
  if (m.finalSpecs.every(concrete)) return m.finalSpecs;
  const [image] = await loadBenchImages(m.spec.kind, 0, 1);
  const s = await session(m, m.spec.backbone);
  const out = await s.run({ [m.spec.inputName]: new ort.Tensor('float32', image!.tensor, image!.dims) });
  return m.finalSpecs.map((spec) => ({ ...spec, shape: [...out[spec.name]!.dims] }));
}

async function setUp(message: Init): Promise<void> {
  init = message;
  for (const spec of message.models) {
    const manifest = parseBundleManifest(JSON.parse(await readFile(join(spec.bundleDir, 'manifest.json'), 'utf8')));
    const finals = benchFinals(manifest);
    const declared = finals.names.map((n) => manifest.model.outputs.find((o) => o.name === n)!);
    const loadedModel: Loaded = { spec, manifest, finals, finalSpecs: declared, sessions: new Map() };
    models.set(spec.id, { ...loadedModel, finalSpecs: await concreteSpecs(loadedModel) });
  }
  const s = message.strategy;
  if (s === 'cloud-raw' || s === 'cloud-png' || s === 'static-split') {
    conns.set(s, await connect({ servers: message.links[s], name: `bench-${s}`, maxReconnectAttempts: -1 }));
  }
  if (s === 'cleave') await startAgent(message);
  // Warm every session the strategy uses, so that no request pays a model load.
  for (const m of models.values()) {
    if (s === 'edge-only' || s === 'static-split') await session(m, m.spec.backbone);
    if (s !== 'static-split') continue;
    for (const c of m.manifest.candidates) if (c.head) await session(m, join(m.spec.bundleDir, c.head));
  }
}

/** Cleave: the real edge agent, serving every model with the latency objective, on its own link. */
async function startAgent(message: Init): Promise<void> {
  const started = await startTestAgent({
    natsUrl: message.links.cleave,
    prefix: message.prefix,
    config: {
      agentId: 'bench-edge',
      models: message.models.map((m) => ({ id: m.id, objective: 'latency' as const })),
      http: { enabled: false },
      natsApi: { enabled: false },
      heartbeatIntervalMs: 5000,
      // The deadline is generous so that the comparison measures the plan, not the fallback. Every codec the agent
      // has, as a user's agent runs: with int8 and f32 alone, the cloud-only input could not be sent compressed.
      policy: { deadlineMs: message.requestTimeoutMs },
    },
  });
  for (const m of message.models) await started.agent.whenServing(m.id, m.version);
  agent = started;
}

const f32Bytes = (data: Float32Array): Uint8Array => new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

/** Runs one request; returns its latency, edge compute, every final output, route and message bytes. */
async function runOne(
  m: Loaded,
  strategy: Run['strategy'],
  image: BenchImage,
  split: string | undefined,
): Promise<{ latencyMs: number; computeMs: number; answer: RequestAnswer; route: string; bytes: number }> {
  const { spec, manifest, finals } = m;
  const timeout = init.requestTimeoutMs;
  const started = performance.now();
  const what = `${spec.id} ${strategy}`;
  const local = async (): Promise<RequestAnswer> => {
    const s = await session(m, spec.backbone);
    const out = await s.run({ [spec.inputName]: new ort.Tensor('float32', image.tensor, image.dims) });
    const tensors: BenchTensor[] = s.outputNames.map((name) => ({
      name,
      dims: [...out[name]!.dims],
      data: out[name]!.data as ArrayLike<number | bigint>,
    }));
    return answerOf(finals, tensors, what);
  };
  if (strategy === 'edge-only' || (strategy === 'static-split' && split === 'edge-only')) {
    const answer = await local();
    const ms = performance.now() - started;
    return { latencyMs: ms, computeMs: ms, answer, route: 'edge', bytes: 0 };
  }
  if (strategy === 'cloud-raw' || strategy === 'cloud-png') {
    const body = strategy === 'cloud-raw' ? f32Bytes(image.tensor) : image.png;
    const format = strategy === 'cloud-raw' ? 'raw' : 'png';
    const reply = await conns.get(strategy)!.request(cloudOnlySubject(init.prefix, spec.id, format), body, { timeout });
    const answer = answerOf(finals, splitRawReply(m.finalSpecs, reply.data), what);
    return {
      latencyMs: performance.now() - started,
      computeMs: 0,
      answer,
      route: 'cloud',
      bytes: body.byteLength + reply.data.byteLength,
    };
  }
  if (strategy === 'static-split') {
    const candidate = manifest.candidates.find((c) => c.id === split);
    if (candidate === undefined) throw new Error(`no candidate ${split} in ${spec.id}`);
    let cut: { name: string; dims: number[]; data: Float32Array }[] = [
      { name: spec.inputName, dims: [...image.dims], data: image.tensor },
    ];
    if (candidate.head !== null) {
      const head = await session(m, join(spec.bundleDir, candidate.head));
      const out = await head.run({ [spec.inputName]: new ort.Tensor('float32', image.tensor, image.dims) });
      cut = candidate.cut.map((name) => ({ name, dims: [...out[name]!.dims], data: out[name]!.data as Float32Array }));
    }
    const payload = inferRequest({ model: spec.id, version: spec.version, split: candidate.id }, `r${started}`, cut);
    const computeMs = performance.now() - started;
    const reply = await requestTail(
      conns.get('static-split')!,
      init.prefix,
      { model: spec.id, version: spec.version, split: candidate.id },
      payload,
      { timeoutMs: timeout },
    );
    const t0 = performance.now();
    if (reply.kind !== 'infer_reply')
      throw new Error(`static split ${candidate.id}: ${JSON.stringify(reply).slice(0, 200)}`);
    // Every final output comes back from the tail, each in its own dtype.
    const answer = answerOf(
      finals,
      reply.outputs.map((o) => decodeAnyTensor(o)),
      `${what} ${candidate.id}`,
    );
    const end = performance.now();
    return {
      latencyMs: end - started,
      computeMs: computeMs + (end - t0),
      answer,
      route: `cloud:${candidate.id}/f32`,
      bytes: payload.byteLength,
    };
  }
  const result = await agent!.agent.infer(
    spec.id,
    { [spec.inputName]: { dims: image.dims, data: image.tensor } },
    { deadlineMs: timeout },
  );
  const latencyMs = performance.now() - started;
  const t = result.timings;
  const route =
    result.exit !== null
      ? `${result.ranOn}:${result.exit}`
      : `${result.ranOn}:${result.split}${result.codec ? `/${result.codec}` : ''}`;
  return {
    latencyMs,
    computeMs: t.headMs + t.encodeMs + t.decodeMs + t.tailMs,
    answer: answerOf(finals, result.outputs, `${what} ${route}`),
    route,
    bytes: result.bytes.sent + result.bytes.received,
  };
}

// The images a `load` prepared, per model: the runs of a cell take theirs from here.
const loaded = new Map<string, { offset: number; images: BenchImage[] }>();

async function imagesFor(m: Loaded, offset: number, n: number): Promise<BenchImage[]> {
  const cached = loaded.get(m.spec.id);
  if (cached !== undefined && offset >= cached.offset && offset + n <= cached.offset + cached.images.length) {
    return cached.images.slice(offset - cached.offset, offset - cached.offset + n);
  }
  return loadBenchImages(m.spec.kind, offset, n);
}

async function run(message: Run): Promise<RunResult> {
  const m = models.get(message.model);
  if (m === undefined) throw new Error(`unknown model ${message.model}`);
  const images = await imagesFor(m, message.offset, message.n);
  // Making the images allocates and burns CPU in this device's quota: collect that garbage and let a fresh CFS
  // period begin, so the first timed request pays for neither (they made two identical strategies differ by 17%).
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((resolve) => setTimeout(resolve, init.settleMs));
  const result: RunResult = {
    latencyMs: [],
    edgeComputeMs: [],
    correct: [],
    answers: [],
    answeredBy: {},
    messageBytes: 0,
    cpuMs: 0,
    probes: 0,
  };
  const probesBefore = agent?.agent.status().link.probes ?? 0;
  const cpuBefore = process.cpuUsage();
  // Labels are classes: they score the primary output's class, so only classifiers are scored against them.
  const scored = m.spec.accuracy && m.finals.task === 'classification';
  for (const image of images) {
    const r = await runOne(m, message.strategy, image, message.split);
    result.latencyMs.push(r.latencyMs);
    result.edgeComputeMs.push(r.computeMs);
    if (scored) result.correct.push(r.answer.predicted?.[0] === image.label);
    result.answers.push(r.answer);
    result.answeredBy[r.route] = (result.answeredBy[r.route] ?? 0) + 1;
    result.messageBytes += r.bytes;
  }
  const cpu = process.cpuUsage(cpuBefore);
  result.cpuMs = (cpu.user + cpu.system) / 1000;
  result.probes = (agent?.agent.status().link.probes ?? 0) - probesBefore;
  return result;
}

// A bench that crashed or was killed must not leave its devices running (and holding its output pipe open).
process.on('disconnect', () => process.exit(1));

process.on('message', (raw) => {
  const message = raw as ToWorker;
  const handle = async (): Promise<void> => {
    if (message.type === 'init') {
      await setUp(message);
      send({ type: 'ready' });
    } else if (message.type === 'run') {
      send({ type: 'ran', seq: message.seq, result: await run(message) });
    } else if (message.type === 'load') {
      const m = models.get(message.model);
      if (m === undefined) throw new Error(`unknown model ${message.model}`);
      loaded.set(message.model, {
        offset: message.offset,
        images: await loadBenchImages(m.spec.kind, message.offset, message.n),
      });
      send({ type: 'loaded', seq: message.seq });
    } else if (message.type === 'status') {
      const link = agent?.agent.status().link;
      send({
        type: 'status',
        seq: message.seq,
        mbps: link?.mbps ?? null,
        rttMs: link?.rttMs ?? null,
        probes: link?.probes ?? 0,
      });
    } else {
      await agent?.close();
      for (const nc of conns.values()) await nc.close();
      process.exit(0);
    }
  };
  handle().catch((err: unknown) =>
    send({
      type: 'failed',
      seq: 'seq' in message ? message.seq : null,
      message: err instanceof Error ? (err.stack ?? err.message) : String(err),
    }),
  );
});
