// A rollout on real, kernel-shaped links (tc tbf in network namespaces, as root): three agents on 18.88, 5.85 and
// 1.1 Mbps serve steady offloaded traffic while a new version of the example is promoted. Heartbeats keep their
// interval, offload latency stays near its level before, and each agent switches in about twice the time its
// delta takes at line rate (downloads take half the uplink). Then a newer promotion is rolled back mid-download:
// the download is cancelled and the slow link goes quiet within 2 s.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type DemoAgent, type EmbeddedNats, resolveLinkMode, startDemoAgent, startEmbeddedNats } from '@cleave/cli';
import { publishBundle } from '@cleave/node-runtime';
import { bucketNames, type BundleManifest } from '@cleave/proto';
import {
  buildEdgeBundle,
  type CloudProcess,
  type EdgeBundle,
  fashionSamples,
  startCloudProcess,
  splitWithoutExits,
  testTrustEnv,
  writeExitsVariantModel,
} from '../harness/mod.js';
import {
  latestHeartbeat,
  type LoadSample,
  longestHeartbeatGap,
  quantile,
  quietAfter,
  recordHeartbeats,
  sampleLinkTraffic,
  startSteadyLoad,
} from '../harness/rollout-probes.js';

const PREFIX = 'cleave';
const MODEL = 'fmnist';
const HEARTBEAT_MS = 1000;
const LOAD_PERIOD_MS = 200;
const LINKS = [
  { id: 'gw-wifi', rateMbps: 18.88, delayMs: 5 },
  { id: 'gw-4g', rateMbps: 5.85, delayMs: 30 },
  { id: 'gw-3g', rateMbps: 1.1, delayMs: 100 },
] as const;

const linkMode = await resolveLinkMode('auto');
const kernelMissing = linkMode.kind === 'kernel' ? undefined : (linkMode.kernelUnavailable ?? 'not root');
if (kernelMissing !== undefined) console.log(`rollout on kernel links skipped: ${kernelMissing}`);

/** Bytes a version adds to an agent that holds `before`: its manifest and every file whose content is new. */
function deltaBytes(before: BundleManifest, after: EdgeBundle, manifestBytes: number): number {
  const known = new Set(Object.values(before.files).map((f) => f.sha256));
  const fresh = new Map<string, number>();
  for (const f of Object.values(after.manifest.files)) if (!known.has(f.sha256)) fresh.set(f.sha256, f.bytes);
  return manifestBytes + [...fresh.values()].reduce((a, b) => a + b, 0);
}

async function waitUntil(what: string, timeoutMs: number, probe: () => boolean): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Date.now();
}

describe.skipIf(kernelMissing !== undefined)('a rollout on kernel-shaped links', () => {
  let work: string;
  let nats: EmbeddedNats;
  let nc: NatsConnection;
  let cloud: CloudProcess;
  const agents: DemoAgent[] = [];
  const bundles: EdgeBundle[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'cleave-rollout-'));
    // v1 the example; v2 and v3 retrained copies (the same graph, every weight changed): the delta is weights.bin.
    const models = [undefined, await writeExitsVariantModel(join(work, 'v2.onnx'), 0.5, { retrained: true })];
    models.push(await writeExitsVariantModel(join(work, 'v3.onnx'), 1.5, { retrained: true }));
    for (const [i, model] of models.entries()) {
      bundles.push(
        // Later versions reuse v1's profiles: the pinned split stays a candidate in all three.
        await buildEdgeBundle(join(work, `bundle-${i + 1}`), {
          calibrate: false,
          ...(model ? { model, profilesFrom: bundles[0]! } : {}),
        }),
      );
    }
    nats = await startEmbeddedNats();
    nc = await connect({ servers: nats.url });
    await publishBundle(nc, bundles[0]!.dir, { prefix: PREFIX, makeCurrent: true });
    cloud = await startCloudProcess(['--nats-url', nats.url, '--prefix', PREFIX, '--http-port', '0']);
    // Every request crosses the link: the pinned split computes no exit.
    const pin = splitWithoutExits(bundles[0]!.manifest).id;
    for (const b of bundles) {
      if (!b.manifest.candidates.some((c) => c.id === pin))
        throw new Error(`${pin} is not a candidate of ${b.version}`);
    }
    for (const [index, link] of LINKS.entries()) {
      agents.push(
        await startDemoAgent({
          spec: { id: link.id, label: link.id, link, batteryPercent: undefined, pin: undefined },
          index,
          linkKind: 'kernel',
          nats: { host: '127.0.0.1', port: nats.port },
          prefix: PREFIX,
          modelId: MODEL,
          workDir: work,
          cores: 1,
          pin,
          env: { ...process.env, ...testTrustEnv(), CLEAVE_LOG_LEVEL: 'info' },
        }),
      );
    }
  }, 280_000);

  afterAll(async () => {
    await Promise.allSettled(agents.map((a) => a.close()));
    cloud?.child.kill('SIGTERM');
    await cloud?.exited;
    await nc?.close();
    await nats?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('keeps heartbeats and offloads on time, switches in 2 x delta / rate + 10 s, and a rollback cancels', async () => {
    const heartbeats = recordHeartbeats(nc, PREFIX);
    const { images } = await fashionSamples(64);
    const loads = agents.map((a) => startSteadyLoad(a.client, MODEL, images, LOAD_PERIOD_MS));
    const [v1, v2, v3] = bundles as [EdgeBundle, EdgeBundle, EdgeBundle];
    const versionOf = (id: string) =>
      latestHeartbeat(heartbeats.byAgent.get(id))?.models.find((m) => m.model === MODEL);

    // The publisher uploads v2 and v3 first (in production it runs elsewhere; here its hashing and upload would
    // load this machine's CPU inside the measured window); a promotion is then the current-version switch alone.
    for (const bundle of [v2, v3]) await publishBundle(nc, bundle.dir, { prefix: PREFIX, makeCurrent: false });
    const current = await new Kvm(nc).open(bucketNames(PREFIX).current);

    // --- before: 15 s of steady load on v1 ---
    await waitUntil('every agent heartbeating v1', 20_000, () =>
      LINKS.every((l) => versionOf(l.id)?.version === v1.version),
    );
    const before = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 15_000));

    // --- promote v2 ---
    const promoted = Date.now();
    await current.put(MODEL, v2.version);
    const delta = deltaBytes(v1.manifest, v2, Buffer.byteLength(JSON.stringify(v2.manifest)));
    const switchedAt = new Map<string, number>();
    await waitUntil('every agent on v2', 120_000, () => {
      for (const l of LINKS)
        if (!switchedAt.has(l.id) && versionOf(l.id)?.version === v2.version) switchedAt.set(l.id, Date.now());
      return switchedAt.size === LINKS.length;
    });
    await new Promise((resolve) => setTimeout(resolve, 3000));

    const rows = LINKS.map((l, i) => {
      const switchMs = switchedAt.get(l.id)! - promoted;
      const boundMs = 2 * ((delta * 8) / (l.rateMbps * 1e6)) * 1000 + 10_000;
      const windowEnd = promoted + Math.max(switchMs + 2000, 10_000);
      const offloadMs = (from: number, to: number, samples: readonly LoadSample[]) =>
        samples.filter((s) => s.ranOn === 'cloud' && s.at >= from && s.at < to).map((s) => s.ms);
      const beforeMs = offloadMs(before, promoted, loads[i]!.samples);
      const duringMs = offloadMs(promoted, windowEnd, loads[i]!.samples);
      const gap = longestHeartbeatGap(heartbeats.byAgent.get(l.id) ?? [], before, windowEnd);
      return {
        agent: l.id,
        mbps: l.rateMbps,
        deltaBytes: delta,
        switchS: +(switchMs / 1000).toFixed(1),
        boundS: +(boundMs / 1000).toFixed(1),
        offloadP95BeforeMs: quantile(beforeMs, 0.95),
        offloadP95DuringMs: quantile(duringMs, 0.95),
        offloadsBefore: beforeMs.length,
        offloadsDuring: duringMs.length,
        longestHeartbeatGapMs: gap,
        switchMs,
        boundMs,
      };
    });
    console.table(rows.map(({ switchMs: _s, boundMs: _b, ...shown }) => shown));

    // --- promote v3, then roll back to v2 while the 1.1 Mbps agent is mid-download ---
    const slow = agents[LINKS.length - 1]!;
    const traffic = sampleLinkTraffic(slow.link, 100);
    await current.put(MODEL, v3.version);
    await waitUntil('the 1.1 Mbps agent downloading v3', 30_000, () => {
      const download = latestHeartbeat(heartbeats.byAgent.get(slow.spec.id))?.downloads?.find(
        (d) => d.version === v3.version,
      );
      return download !== undefined && download.bytes > 0 && download.percent < 60;
    });
    const rolledBack = Date.now();
    await current.put(MODEL, v2.version);
    await new Promise((resolve) => setTimeout(resolve, 6000));
    traffic.stop();
    // Quiet: below a tenth of the link's rate over half a second (heartbeats, probes and replies remain).
    const quietMs = quietAfter(traffic.points, rolledBack, 500, (LINKS[2].rateMbps * 1e6) / 10);
    const still = latestHeartbeat(heartbeats.byAgent.get(slow.spec.id));
    console.log(
      `rollback mid-download on ${slow.spec.id}: link quiet ${quietMs === undefined ? 'never' : `${quietMs} ms`} ` +
        `after the rollback; downloads now ${JSON.stringify(still?.downloads ?? [])}; serving ${versionOf(slow.spec.id)?.version}`,
    );
    await Promise.all(loads.map((l) => l.stop()));

    for (const [i, row] of rows.entries()) {
      // The agent's last log lines say why (a slow KV write, a reconnect) if the gap is long.
      expect(
        row.longestHeartbeatGapMs,
        `${row.agent}: longest heartbeat gap; its log ends: ${agents[i]!.process.tail()}`,
      ).toBeLessThanOrEqual(2 * HEARTBEAT_MS);
      expect(row.offloadsBefore, `${row.agent}: offloads before`).toBeGreaterThan(20);
      expect(row.offloadsDuring, `${row.agent}: offloads during`).toBeGreaterThan(10);
      expect(row.offloadP95DuringMs, `${row.agent}: offload p95 during`).toBeLessThanOrEqual(
        1.5 * row.offloadP95BeforeMs,
      );
      expect(row.switchMs, `${row.agent}: switch time`).toBeLessThanOrEqual(row.boundMs);
    }
    expect(quietMs, 'link quiet after the rollback').toBeDefined();
    expect(quietMs!).toBeLessThanOrEqual(2000);
    expect(still?.downloads ?? []).toEqual([]);
    expect(versionOf(slow.spec.id)?.version).toBe(v2.version);
  }, 240_000);
});
