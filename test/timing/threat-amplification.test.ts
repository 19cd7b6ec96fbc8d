// Threat: amplification. int8 requests near max_payload decode to four times their wire size, and one of them can
// carry hundreds of samples. Against a real `cleave cloud` process, eight such requests arrive at once while small
// requests keep flowing. The replica admits by decoded bytes (limits.maxInFlightBytes, here 96 MiB: two or three of
// the eight fit, the others are refused `overloaded` at once, as an edge agent then runs its tail itself); it decodes
// an admitted one a chunk of one batch at a time (its floats are never all there at once) and runs the chunks through
// the batcher so the small requests run between them; and it runs a GC once enough garbage has piled up
// (memory-reclaimer.ts), since V8 frees ArrayBuffers only at its own, rare, major GCs.
//
//   bound = baseline RSS (tails loaded, small traffic flowing) + limits.maxInFlightBytes
//
// The issue asks peak RSS (VmHWM) <= baseline + 1.25 × maxInFlightBytes, and that is what the test asserts, for the
// peak and for RSS 10 s after. The replica runs with the environment it is deployed with (MALLOC_MMAP_THRESHOLD_
// from deploy/docker/Dockerfile.cloud, so big decoded buffers are mmapped and go back to the OS): measured 0.71-0.79 ×
// the bound in 4 runs. Without it, glibc kept freed heap and runs measured 0.99-1.54 ×. Admission counts a
// chunk-decoded request at its whole decoded size on purpose: the
// bound then leaves room for the garbage (nats.js assembles each 8 MiB payload from 64 KiB reads into a buffer grown
// by doubling) and for glibc keeping freed heap, and the tail is not crowded by eight huge requests. Counting only the
// two chunks it holds at once admitted all eight and gave 1.27-1.73 × (see cloud-service/README.md).
import { readFile, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { REPO_ROOT } from '@cleave/cli';
import { publishBundle } from '@cleave/node-runtime';
import {
  DEADLINE_HEADER,
  decodeMessage,
  encodeMessage,
  encodeTensor,
  PROTOCOL_VERSION,
  quantileOrNaN,
  type TailAddress,
  tailSubject,
} from '@cleave/proto';
import {
  buildExampleBundle,
  type CloudProcess,
  exampleImages,
  inferRequest,
  runHead,
  startCloudProcess,
  type TestBundle,
  useTestNats,
} from '../harness/mod.js';

const MiB = 1024 ** 2;
/** The replica's in-flight bound on decoded bytes, the configured part of the memory bound. */
const MAX_IN_FLIGHT_BYTES = 96 * MiB;
/** Wire size of each big request: just under the test server's max_payload of 8 MiB. */
const BIG_REQUEST_BYTES = 8 * MiB - 64 * 1024;
const BIG_REQUESTS = 8;
/** Deadline of each small request, from when it is sent. */
const SMALL_DEADLINE_MS = 1000;
const SMALL_EVERY_MS = 10;
/** Small traffic counted after the burst's last answer. */
const AFTER_BURST_MS = 5000;
/** Asserted peak: baseline + this × MAX_IN_FLIGHT_BYTES, as the issue asks (measured 0.71-0.79, see the header). */
const PEAK_LIMIT_FACTOR = 1.25;

const nats = useTestNats();
let nc: NatsConnection;
/** The small requests' own connection, as they come from other agents than the big ones. */
let smallNc: NatsConnection;
let bundle: TestBundle;
let address: TailAddress;
let replica: CloudProcess;
let small: Uint8Array;
let big: Uint8Array;
let bigSamples = 0;
let bigElements = 0;

/** Resident and peak resident memory of a process, from /proc. */
async function memoryOf(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM') };
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  const { url, prefix } = nats();
  nc = await connect({ servers: url });
  smallNc = await connect({ servers: url });
  bundle = await buildExampleBundle(join(await mkdtemp(join(tmpdir(), 'cleave-amplification-')), 'bundle'));
  await publishBundle(nc, bundle.dir, { prefix });
  // The split whose single cut tensor is largest per sample: the most elements a near-max request can carry.
  const heads = await Promise.all(
    [...bundle.splits.entries()]
      .filter(([, s]) => s.cut.length === 1)
      .map(async ([id]) => ({ id, cut: (await runHead(bundle, id, exampleImages(8, 3), 8))[0]! })),
  );
  const widest = heads.sort((a, b) => b.cut.data.length - a.cut.data.length)[0]!;
  address = { model: bundle.model, version: bundle.version, split: widest.id };
  const perSample = widest.cut.data.length / 8;
  bigSamples = Math.floor(BIG_REQUEST_BYTES / perSample);
  bigElements = bigSamples * perSample;
  const tiled = new Float32Array(bigSamples * perSample);
  for (let i = 0; i < bigSamples; i += 1)
    tiled.set(widest.cut.data.subarray((i % 8) * perSample, ((i % 8) + 1) * perSample), i * perSample);
  const dims = [bigSamples, ...widest.cut.dims.slice(1)];
  big = encodeMessage({
    kind: 'infer',
    v: PROTOCOL_VERSION,
    id: 'big',
    ...address,
    tensors: [encodeTensor(widest.cut.name, tiled, dims, 'int8')],
    sentAt: Date.now(),
  });
  const one = { ...widest.cut, dims: [1, ...widest.cut.dims.slice(1)], data: widest.cut.data.slice(0, perSample) };
  small = inferRequest(address, 'small', [one]);

  const config = join(await mkdtemp(join(tmpdir(), 'cleave-amplification-config-')), 'cloud.yaml');
  // Unsigned test bundles are allowed here: bundle trust has its own threat test.
  await writeFile(config, `limits:\n  maxInFlightBytes: ${MAX_IN_FLIGHT_BYTES}\nbundles:\n  allowUnsigned: true\n`);
  replica = await startCloudProcess(
    [
      '--config',
      config,
      '--nats-url',
      url,
      '--prefix',
      prefix,
      '--replica',
      'amplified',
      '--no-http',
      '--intra-op-threads',
      '1',
    ],
    await deployedEnv(),
  );
}, 180_000);

/**
 * The replica's environment as deployed: Dockerfile.cloud and the Kubernetes deployment set MALLOC_MMAP_THRESHOLD_,
 * so big decoded buffers go back to the OS. Read from the Dockerfile, so the test measures what ships.
 */
async function deployedEnv(): Promise<NodeJS.ProcessEnv> {
  const dockerfile = await readFile(join(REPO_ROOT, 'deploy', 'docker', 'Dockerfile.cloud'), 'utf8');
  const threshold = /^ENV MALLOC_MMAP_THRESHOLD_=(\d+)$/m.exec(dockerfile)?.[1];
  if (threshold === undefined) throw new Error('deploy/docker/Dockerfile.cloud no longer sets MALLOC_MMAP_THRESHOLD_');
  return { ...process.env, MALLOC_MMAP_THRESHOLD_: threshold };
}

afterAll(async () => {
  if (replica?.child.exitCode === null) replica.child.kill('SIGKILL');
  await smallNc?.close();
  await nc?.close();
});

/** Sends small requests every SMALL_EVERY_MS until stopped; each records its latency or why it missed. */
function smallTraffic(): { stop(): Promise<{ latencies: number[]; missed: string[] }> } {
  const latencies: number[] = [];
  const missed: string[] = [];
  const inFlight = new Set<Promise<void>>();
  const subject = tailSubject({ prefix: nats().prefix, ...address });
  const send = async () => {
    const started = performance.now();
    const h = natsHeaders();
    h.set(DEADLINE_HEADER, String(Date.now() + SMALL_DEADLINE_MS));
    try {
      const reply = decodeMessage(
        (await smallNc.request(subject, small, { timeout: SMALL_DEADLINE_MS, headers: h })).data,
      );
      const ms = performance.now() - started;
      if (reply.kind === 'infer_reply' && ms <= SMALL_DEADLINE_MS) latencies.push(ms);
      else missed.push(reply.kind === 'error' ? reply.code : `late ${ms.toFixed(0)} ms`);
    } catch (error) {
      missed.push((error as Error).message);
    }
  };
  const timer = setInterval(() => {
    const p = send().finally(() => inFlight.delete(p));
    inFlight.add(p);
  }, SMALL_EVERY_MS);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      return { latencies, missed };
    },
  };
}

/** Sends one big request; the replica serves it or refuses it at once. */
async function sendBig(): Promise<{ outcome: string; ms: number }> {
  const subject = tailSubject({ prefix: nats().prefix, ...address });
  const started = performance.now();
  const reply = decodeMessage((await nc.request(subject, big, { timeout: 60_000 })).data);
  const outcome =
    reply.kind === 'infer_reply'
      ? `served ${reply.outputs[0]!.dims[0]} samples`
      : reply.kind === 'error'
        ? reply.code
        : reply.kind;
  return { outcome, ms: performance.now() - started };
}

describe('threat: amplification by int8 requests near max_payload', () => {
  it('admits by decoded bytes: small requests stay on time and peak RSS stays near the decoded-bytes bound', async () => {
    const pid = replica.child.pid!;
    // Warm: the tail loaded and small traffic flowing, then the baseline, and the peak counter reset to it.
    const warm = smallTraffic();
    await sleep(3000);
    await warm.stop();
    const baseline = (await memoryOf(pid)).rss;
    await writeFile(`/proc/${pid}/clear_refs`, '5');

    const traffic = smallTraffic();
    await sleep(500);
    const bigResults = await Promise.all(Array.from({ length: BIG_REQUESTS }, sendBig));
    const peak = (await memoryOf(pid)).hwm;
    // After the burst, with the small traffic still flowing, for up to 10 s.
    const burstEnded = performance.now();
    let after = (await memoryOf(pid)).rss;
    const settledBy = burstEnded + 10_000;
    while (after > baseline + 0.25 * MAX_IN_FLIGHT_BYTES && performance.now() < settledBy) {
      await sleep(500);
      after = (await memoryOf(pid)).rss;
    }
    // The small requests are counted over a fixed window, from 0.5 s before the burst to 5 s after its last answer:
    // stopping when RSS settled made the share on time depend on how fast it settled (339 to 789 requests counted,
    // the same misses in each, 89-98% on time).
    await sleep(Math.max(0, burstEnded + AFTER_BURST_MS - performance.now()));
    const { latencies, missed } = await traffic.stop();

    const p99 = quantileOrNaN(latencies, 0.99);
    const bound = baseline + MAX_IN_FLIGHT_BYTES;
    const limit = baseline + PEAK_LIMIT_FACTOR * MAX_IN_FLIGHT_BYTES;
    const outcomes = new Map<string, number>();
    for (const r of bigResults) outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
    const onTime = latencies.length / (latencies.length + missed.length);
    const why = new Map<string, number>();
    for (const m of missed) why.set(m.replace(/\d+/g, 'N'), (why.get(m.replace(/\d+/g, 'N')) ?? 0) + 1);
    console.log(
      `amplification: ${BIG_REQUESTS} int8 requests of ${mib(big.byteLength)} (${bigSamples} samples, ` +
        `${mib(bigElements * 4)} decoded each): ${[...outcomes].map(([o, n]) => `${n} ${o}`).join(', ')}, the last ` +
        `answer after ${Math.max(...bigResults.map((r) => r.ms)).toFixed(0)} ms; small requests on time ` +
        `${latencies.length} of ${latencies.length + missed.length} (missed: ${JSON.stringify([...why])}), p99 of ` +
        `those on time ${p99.toFixed(1)} ms (deadline ` +
        `${SMALL_DEADLINE_MS} ms); RSS baseline ${mib(baseline)}, peak ${mib(peak)} (bound ${mib(bound)}, ` +
        `asserted limit ${mib(limit)}; peak - baseline = ${((peak - baseline) / MAX_IN_FLIGHT_BYTES).toFixed(2)} × ` +
        `bound), 10 s after ${mib(after)}`,
    );
    expect(outcomes.get(`served ${bigSamples} samples`)).toBeGreaterThanOrEqual(2);
    expect([...outcomes.keys()].every((o) => o === `served ${bigSamples} samples` || o === 'overloaded')).toBe(true);
    // The misses are time-outs while the 64 MiB burst crosses the replica's one NATS connection ahead of them.
    expect(onTime).toBeGreaterThanOrEqual(0.9);
    expect(p99).toBeLessThan(SMALL_DEADLINE_MS);
    expect(peak).toBeLessThanOrEqual(limit);
    expect(after).toBeLessThanOrEqual(limit);
  }, 180_000);
});
