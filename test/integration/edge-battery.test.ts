// Acceptance: a fake battery (plain files in the power-supply layout) drops from 80% to 15% while discharging. The
// objective moves from latency to energy and the exit operating point to a more lenient one on the calibrated
// curve, as the README documents; accuracy measured on real Fashion-MNIST t10k images stays above the bundle's
// floor. The split is pinned to the one whose head computes every exit, so the test isolates the exit policy.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { publishBundle } from '@cleave/node-runtime';
import { EdgeClient } from '@cleave/edge-agent';
import {
  argmax,
  buildEdgeBundle,
  type EdgeBundle,
  fashionSamples,
  splitWithAllExits,
  startTestAgent,
  startTestReplica,
  type TestAgent,
  testServiceSettings,
  useTestNats,
  waitFor,
} from '../harness/mod.js';

const SAMPLES = 1000;
const nats = useTestNats();
let bundle: EdgeBundle;
let admin: NatsConnection;
let replica: Awaited<ReturnType<typeof startTestReplica>>;
let edge: TestAgent;
let powerDir: string;

async function setBattery(capacity: number, status: string): Promise<void> {
  await writeFile(join(powerDir, 'BAT0', 'capacity'), `${capacity}\n`);
  await writeFile(join(powerDir, 'BAT0', 'status'), `${status}\n`);
}

beforeAll(async () => {
  const { url, prefix } = nats();
  bundle = await buildEdgeBundle(await mkdtemp(join(tmpdir(), 'edge-battery-bundle-')));
  admin = await connect({ servers: url });
  await publishBundle(admin, bundle.dir, { prefix });
  replica = await startTestReplica(url, testServiceSettings(prefix, 'r1'));
  powerDir = await mkdtemp(join(tmpdir(), 'power-supply-'));
  await mkdir(join(powerDir, 'BAT0'));
  await mkdir(join(powerDir, 'AC'));
  await writeFile(join(powerDir, 'BAT0', 'type'), 'Battery\n');
  await writeFile(join(powerDir, 'AC', 'type'), 'Mains\n');
  await writeFile(join(powerDir, 'AC', 'online'), '0\n');
  await setBattery(80, 'Discharging');
  edge = await startTestAgent({
    natsUrl: url,
    prefix,
    config: {
      models: [{ id: 'fmnist', pin: splitWithAllExits(bundle.manifest).id }],
      battery: { path: powerDir, pollMs: 100 },
      policy: { deadlineMs: 2000 },
    },
  });
  await edge.agent.whenServing('fmnist', bundle.version);
}, 120_000);

afterAll(async () => {
  await edge?.close();
  await replica?.close();
  await admin?.close();
});

/** Accuracy and exit rate of the agent's answers on t10k images (never used for calibration). */
async function measure(): Promise<{ accuracy: number; exitRate: number }> {
  const { images, labels } = await fashionSamples(SAMPLES);
  const client = new EdgeClient({ url: edge.agent.httpUrl! });
  let right = 0;
  let exited = 0;
  for (const [i, image] of images.entries()) {
    const r = await client.infer('fmnist', { input: { dims: [1, 1, 28, 28], data: image } });
    if (argmax(r.outputs['logits']!.data as Float32Array) === labels[i]) right += 1;
    if (r.exit !== null) exited += 1;
  }
  return { accuracy: right / SAMPLES, exitRate: exited / SAMPLES };
}

describe('battery drop', () => {
  it('80% → 15% discharging: latency → energy, a more lenient operating point, accuracy above the floor', async () => {
    const policy = bundle.manifest.exitPolicy!;
    const decision = () => edge.agent.modelStatus('fmnist')!.decision!;
    await waitFor(() => edge.agent.status().power.level === 0.8, 'the 80% reading');
    expect(decision()).toMatchObject({ objective: 'latency', budgetPoints: policy.budgetPoints });
    const high = await measure();

    await setBattery(15, 'Discharging');
    await waitFor(() => decision().objective === 'energy', 'the energy objective');
    const low = decision();
    expect(low.budgetPoints).toBeGreaterThan(policy.budgetPoints);
    // On the curve, never below the floor (plus the agent's safety margin).
    expect(low.expectedAccuracy).toBeGreaterThanOrEqual(policy.floorAccuracy);
    const lenient = await measure();

    expect(high.accuracy).toBeGreaterThanOrEqual(policy.floorAccuracy);
    expect(lenient.accuracy).toBeGreaterThanOrEqual(policy.floorAccuracy);
    expect(lenient.exitRate).toBeGreaterThanOrEqual(high.exitRate);
    const line = edge.logs.find(
      (l) => l['event'] === 'switch' && /objective latency → energy/.test(String(l['reason'])),
    );
    expect(String(line?.['reason'])).toMatch(/battery 15% discharging/);

    // Plugged in again: mains means no battery constraint.
    await writeFile(join(powerDir, 'AC', 'online'), '1\n');
    await waitFor(() => decision().objective === 'latency', 'the latency objective on mains');
    expect(decision().budgetPoints).toBe(policy.budgetPoints);
    if (process.env['CLEAVE_TEST_VERBOSE']) {
      console.info(
        JSON.stringify({
          floor: policy.floorAccuracy,
          high,
          lenient,
          budgets: [policy.budgetPoints, low.budgetPoints],
        }),
      );
    }
  });
});
