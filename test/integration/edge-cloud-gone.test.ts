// Acceptance: the cloud goes away during a steady stream of requests, twice: the replica stops, then the agent's
// link is cut. Every request is answered, every answer equals the full model's, no answer takes longer than the
// deadline plus the local tail, and offloading resumes within 5 s of each recovery.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { publishBundle } from '@cleave/node-runtime';
import { type ClientResult, EdgeClient } from '@cleave/edge-agent';
import {
  buildEdgeBundle,
  type EdgeBundle,
  fashionSamples,
  fullModelLogits,
  type LinkEmulator,
  maxAbsDiff,
  splitWithoutExits,
  startLinkEmulator,
  startTestAgent,
  startTestReplica,
  type TestAgent,
  testServiceSettings,
  useTestNats,
} from '../harness/mod.js';

const DEADLINE_MS = 300;
// Timers on a shared two-core machine fire late by a few ms, more under load; this is that allowance, not the bound.
const SCHEDULING_SLACK_MS = 50;

const nats = useTestNats();
let bundle: EdgeBundle;
let admin: NatsConnection;
let link: LinkEmulator;
let edge: TestAgent;
let images: Float32Array[];
let reference: Float32Array[];

interface Answer {
  readonly sample: number;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly result?: ClientResult;
  readonly error?: unknown;
}

/** Three workers sending requests back to back until stopped. */
function steadyStream(client: EdgeClient): { answers: Answer[]; stop(): Promise<void> } {
  const answers: Answer[] = [];
  let running = true;
  let next = 0;
  const worker = async () => {
    while (running) {
      const sample = next++ % images.length;
      const startedAt = performance.now();
      try {
        const result = await client.infer('fmnist', { input: { dims: [1, 1, 28, 28], data: images[sample]! } });
        answers.push({ sample, startedAt, finishedAt: performance.now(), result });
      } catch (error) {
        answers.push({ sample, startedAt, finishedAt: performance.now(), error });
      }
    }
  };
  const workers = [worker(), worker(), worker()];
  return {
    answers,
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Time from `since` to the end of the first cloud answer to a request sent after `since`. */
function resumedAfter(answers: readonly Answer[], since: number): number | undefined {
  const first = answers
    .filter((a) => a.startedAt >= since && a.result?.ranOn === 'cloud')
    .sort((a, b) => a.finishedAt - b.finishedAt)[0];
  return first === undefined ? undefined : first.finishedAt - since;
}

beforeAll(async () => {
  const { url, prefix } = nats();
  bundle = await buildEdgeBundle(await mkdtemp(join(tmpdir(), 'edge-gone-bundle-')), { calibrate: false });
  admin = await connect({ servers: url });
  await publishBundle(admin, bundle.dir, { prefix });
  const target = new URL(url);
  link = await startLinkEmulator({ host: target.hostname, port: Number(target.port) });
  edge = await startTestAgent({
    natsUrl: link.url,
    prefix,
    // A split whose head has no exit: every request needs its tail, in the cloud or here.
    config: {
      models: [{ id: 'fmnist', pin: splitWithoutExits(bundle.manifest).id }],
      policy: { deadlineMs: DEADLINE_MS },
      breaker: { failureThreshold: 3, probeIntervalMs: 500, probeTimeoutMs: 500 },
    },
  });
  await edge.agent.whenServing('fmnist', bundle.version);
  ({ images } = await fashionSamples(40));
  reference = await fullModelLogits(bundle, images);
}, 120_000);

afterAll(async () => {
  await edge?.close();
  await link?.close();
  await admin?.close();
});

describe('cloud gone during a steady stream', () => {
  it('answers every request correctly within deadline + local tail, and resumes offloading within 5 s', async () => {
    const { url, prefix } = nats();
    let replica = await startTestReplica(url, testServiceSettings(prefix, 'r1'));
    const stream = steadyStream(new EdgeClient({ url: edge.agent.httpUrl! }));
    try {
      await sleep(1000);
      // 1. The replica stops.
      await replica.close();
      await sleep(2000);
      const restartedAt = performance.now();
      replica = await startTestReplica(url, testServiceSettings(prefix, 'r2'));
      await sleep(5500);
      // 2. The agent's link is cut.
      link.cut();
      await sleep(2000);
      const restoredAt = performance.now();
      link.restore();
      await sleep(5500);
      await stream.stop();

      const { answers } = stream;
      const failed = answers.filter((a) => a.error !== undefined);
      expect(failed.map((a) => String(a.error))).toEqual([]);
      expect(answers.length).toBeGreaterThan(100);
      for (const a of answers) {
        const r = a.result!;
        expect(maxAbsDiff(r.outputs['logits']!.data as Float32Array, reference[a.sample]!)).toBeLessThan(1e-4);
        expect(r.tailVersion).toBe(r.version);
        expect(r.timings['totalMs']!).toBeLessThanOrEqual(DEADLINE_MS + r.timings['tailMs']! + SCHEDULING_SLACK_MS);
      }
      const reasons = new Set(answers.map((a) => a.result!.fallbackReason).filter((x) => x !== null));
      // The stop shows as "no responders", the cut as a timeout or disconnect; then the breaker answers at once.
      expect(reasons.has('no_responders')).toBe(true);
      expect(reasons.has('circuit_open')).toBe(true);
      expect(answers.filter((a) => a.result!.ranOn === 'cloud').length).toBeGreaterThan(10);

      const afterRestart = resumedAfter(answers, restartedAt);
      const afterRestore = resumedAfter(answers, restoredAt);
      expect(afterRestart, 'offloading resumed after the replica restarted').toBeDefined();
      expect(afterRestart!).toBeLessThanOrEqual(5000);
      expect(afterRestore, 'offloading resumed after the link came back').toBeDefined();
      expect(afterRestore!).toBeLessThanOrEqual(5000);
      if (process.env['CLEAVE_TEST_VERBOSE']) {
        const count = (key: string | null) => answers.filter((a) => a.result!.fallbackReason === key).length;
        const worst = Math.max(...answers.map((a) => a.result!.timings['totalMs']!));
        console.info(
          JSON.stringify({
            answers: answers.length,
            cloud: count(null),
            reasons: [...reasons].map((r) => [r, count(r)]),
            worst,
            afterRestart,
            afterRestore,
          }),
        );
      }
      const circuit = edge.logs.filter((l) => l['event'] === 'circuit').map((l) => l['to']);
      expect(circuit).toEqual(expect.arrayContaining(['open', 'half-open', 'closed']));
    } finally {
      await stream.stop();
      await replica.close();
    }
  });
});
