// Live re-costing on real processes, as root: a `cleave edge` agent in a CPU-quota group (a gateway-class device,
// its bundle profiled in that same group) and a `cleave cloud` replica in a group of its own serve a steady stream
// of requests. The agent offloads at the start (by its plan, or by live costs once it measured its head). Then the
// replica's CPU is cut (its queue and compute time grow by far more than 5×, as replies report them): the agent
// re-ranks its candidates with the measured times and moves its split edgeward.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createCpuQuotaGroup, type CpuQuotaGroup } from '@cleave/cli';
import { EdgeClient } from '@cleave/edge-agent';
import { publishBundle } from '@cleave/node-runtime';
import { seededRandom } from '@cleave/proto';
import {
  buildThrottledBundle,
  type CloudProcess,
  type EdgeBundle,
  type EdgeProcess,
  ensureZooModel,
  startCloudProcess,
  startEdgeProcess,
  testTrustEnv,
  useTestNats,
  waitFor,
} from '../harness/mod.js';

const EDGE_CORES = 0.25;
const MODEL = 'squeezenet';
const INPUT_DIMS = [1, 3, 224, 224];
const LIVE = { enabled: true, minSamples: 5, alpha: 0.2, staleMs: 10_000, margin: 0.1, dwellMs: 500 };
const nats = useTestNats();

const rootless = process.getuid?.() !== 0;
let work: string;
let admin: NatsConnection;
let edgeGroup: CpuQuotaGroup;
let cloudGroup: CpuQuotaGroup;
let bundle: EdgeBundle;
let cloud: CloudProcess;
const agents: EdgeProcess[] = [];

interface LiveDecision {
  readonly split: string;
  readonly kind: string;
  readonly tailOn: string;
  readonly chosenBy?: string;
  /** Cloud samples behind the live estimate of this split. */
  readonly cloudSamples: number;
}

interface ModelStatus {
  readonly model: string;
  readonly decision?: Omit<LiveDecision, 'cloudSamples'> | null;
  readonly liveCosts?: { readonly status: readonly { id: string; samples: { cloud: number } }[] } | null;
}

/** The model's decision from the agent's /v1/status, with the cloud samples its live estimate has. */
async function decisionOf(agent: EdgeProcess): Promise<LiveDecision | undefined> {
  const status = (await new EdgeClient({ url: agent.httpUrl }).status()) as { models?: ModelStatus[] };
  const model = status.models?.find((m) => m.model === MODEL);
  const decision = model?.decision;
  if (!decision) return undefined;
  const live = model.liveCosts?.status.find((c) => c.id === decision.split);
  return { ...decision, cloudSamples: live?.samples.cloud ?? 0 };
}

/** Offloading (not edge-only, tail in the cloud), with the replica's times measured on its own replies. */
const offloadsMeasured = (d: LiveDecision | undefined) =>
  d !== undefined && d.kind !== 'edge-only' && d.tailOn === 'cloud' && d.cloudSamples >= LIVE.minSamples;

/** The decision, the live ratios and the top of the live ranking, for a failure message. */
async function liveSummary(agent: EdgeProcess): Promise<string> {
  const status = (await new EdgeClient({ url: agent.httpUrl }).status()) as {
    models?: (ModelStatus & { liveCosts?: { ratios?: unknown; ranking?: unknown[] } | null })[];
  };
  const m = status.models?.find((x) => x.model === MODEL);
  return `decision ${JSON.stringify(m?.decision)}, ratios ${JSON.stringify(m?.liveCosts?.ratios)}, ranking ${JSON.stringify(m?.liveCosts?.ranking?.slice(0, 3))}`;
}

/** Profiled edge time of a candidate: what "edgeward" and "cloudward" compare. */
function edgeMsOf(split: string): number {
  const c = bundle.manifest.candidates.find((x) => x.id === split);
  if (c === undefined) throw new Error(`no candidate ${split}`);
  return c.kind === 'cloud-only' ? 0 : (c.profile.edge?.medianMs ?? 0);
}

/** Sends requests every `periodMs` until stopped; counts failures. */
function steadyTraffic(agent: EdgeProcess, images: readonly Float32Array[], periodMs: number) {
  const client = new EdgeClient({ url: agent.httpUrl });
  let running = true;
  let failures = 0;
  const done = (async () => {
    for (let i = 0; running; i += 1) {
      await client
        .infer(MODEL, { input: { dims: INPUT_DIMS, data: images[i % images.length]! } }, { deadlineMs: 5000 })
        .catch(() => (failures += 1));
      await new Promise((resolve) => setTimeout(resolve, periodMs));
    }
  })();
  return {
    failures: () => failures,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

describe.skipIf(rootless)('live re-costing on throttled processes', () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'cleave-live-costs-'));
    edgeGroup = await createCpuQuotaGroup(`cleave-test-live-edge-${process.pid}`, EDGE_CORES);
    cloudGroup = await createCpuQuotaGroup(`cleave-test-live-cloud-${process.pid}`, 2);
    // squeezenet1_1 has no exits and enough compute that a quarter core shows (the example's whole model takes
    // 0.3 ms: under a CFS quota it fits in one burst, and its time depends more on the agent's other work).
    bundle = await buildThrottledBundle(edgeGroup, join(work, 'bundle'), {
      model: await ensureZooModel('squeezenet1_1'),
      modelId: MODEL,
      rttMs: 1,
    });
    admin = await connect({ servers: nats().url });
    await publishBundle(admin, bundle.dir, { prefix: nats().prefix });
    cloud = await startCloudProcess(
      ['--nats-url', nats().url, '--prefix', nats().prefix, '--http-port', '0', '--intra-op-threads', '1'],
      { ...process.env, ...testTrustEnv() },
    );
    await cloudGroup.adopt(cloud.child.pid!);
  }, 300_000);

  afterAll(async () => {
    await Promise.allSettled(agents.map((a) => a.stop()));
    cloud?.child.kill('SIGTERM');
    await cloud?.exited;
    await admin?.close();
    await edgeGroup?.remove();
    await cloudGroup?.remove();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function startThrottledAgent(id: string): Promise<EdgeProcess> {
    const agent = await startEdgeProcess({
      agentId: id,
      natsUrl: nats().url,
      prefix: nats().prefix,
      workDir: work,
      model: MODEL,
      config: { control: { live: LIVE } },
    });
    agents.push(agent);
    await edgeGroup.adopt(agent.child.pid!);
    await waitFor(() => new EdgeClient({ url: agent.httpUrl }).ready(), `${id} ready`, 60_000, 100);
    return agent;
  }

  /** Waits until two readings 2 s apart show the same decision, each passing `ok`; returns it. */
  async function settled(agent: EdgeProcess, ok: (d: LiveDecision | undefined) => boolean, what: string) {
    let last: LiveDecision | undefined;
    await waitFor(
      async () => {
        const d = await decisionOf(agent);
        const same = ok(d) && d!.split === last?.split && d!.tailOn === last?.tailOn;
        last = d;
        return same;
      },
      what,
      60_000,
      2000,
    );
    return last!;
  }

  it('moves the split edgeward when the cloud slows down', async () => {
    const agent = await startThrottledAgent('gw-live-cloud');
    // Random images: the model has random weights too, and no exit depends on what it sees.
    const random = seededRandom(7);
    const images = Array.from({ length: 4 }, () => Float32Array.from({ length: 3 * 224 * 224 }, () => random()));
    const traffic = steadyTraffic(agent, images, 20);
    try {
      // Settled on an offloading option first, by the plan or by live costs, with the replica's times measured.
      const from = await settled(agent, offloadsMeasured, 'the same measured offloading decision 2 s apart');
      await cloudGroup.setCores(0.02);
      const movedMs = await waitFor(
        async () => {
          const d = await decisionOf(agent);
          return d !== undefined && (d.tailOn === 'edge' || edgeMsOf(d.split) > edgeMsOf(from.split));
        },
        'an edgeward decision',
        15_000,
        50,
      );
      const to = (await decisionOf(agent))!;
      console.log(
        `live costs, cloud cut to 0.02 core: ${from.split}/${from.tailOn} (edge ${edgeMsOf(from.split).toFixed(2)} ms ` +
          `profiled) -> ${to.split}/${to.tailOn} (edge ${edgeMsOf(to.split).toFixed(2)} ms) by ${to.chosenBy} after ` +
          `${Math.round(movedMs)} ms; failed requests ${traffic.failures()}`,
      );
      expect(to.chosenBy).toBe('live-costs');
    } catch (error) {
      console.log(`live costs at the failure: ${await liveSummary(agent)}`);
      throw error;
    } finally {
      await traffic.stop();
      await cloudGroup.setCores(2);
      await agent.stop();
    }
  }, 120_000);
});
