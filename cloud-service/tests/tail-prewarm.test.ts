// Which tails a version's prewarm loads, and in which order versions are prewarmed, with an in-memory registry.
// The KV watch, announcements and real sessions are exercised by test/integration/cloud-prewarm.test.ts.
import { describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import type { BundleManifest, TailAddress } from '@cleave/proto';
import { createTailPrewarm, plannedCloudSplits, type PrewarmReport } from '../src/service/tail-prewarm.js';
import type { LoadedTail } from '../src/tail/loaded-tail.js';
import type { TailLease, TailRegistry } from '../src/tail/tail-registry.js';

function manifest(version: string, ranges: { candidate: string; tailOn?: 'edge' | 'cloud' }[]): BundleManifest {
  const candidate = (id: string, kind: string) => ({
    id,
    kind,
    head: kind === 'cloud-only' ? null : `${id}.head.onnx`,
    tail: kind === 'edge-only' ? null : `${id}.tail.onnx`,
  });
  return {
    version,
    model: { id: 'm' },
    candidates: [
      candidate('edge-only', 'edge-only'),
      candidate('s1', 'split'),
      candidate('s2', 'split'),
      candidate('s3', 'split'),
      candidate('cloud-only', 'cloud-only'),
    ],
    plan: { ranges: ranges.map((r) => ({ objective: 'latency', ...r })) },
  } as unknown as BundleManifest;
}

function fakeRegistry(manifests: BundleManifest[], served: string[] = []) {
  const acquired: string[] = [];
  const gates = new Map<string, () => void>();
  let pinned = 0;
  const registry = {
    manifest: (_model: string, version: string) => {
      const found = manifests.find((m) => m.version === version);
      return found === undefined ? Promise.reject(new Error(`no ${version}`)) : Promise.resolve(found);
    },
    servedSplits: () => served,
    async acquire(address: TailAddress): Promise<TailLease> {
      const key = `${address.version}/${address.split}`;
      acquired.push(key);
      // A tail with a gate waits until the test opens it.
      if (gates.has(key)) await new Promise<void>((resolve) => gates.set(key, resolve));
      pinned += 1;
      const tail = { warm: () => Promise.resolve() } as unknown as LoadedTail;
      return { tail, release: () => (pinned -= 1) };
    },
  } as unknown as TailRegistry;
  return { registry, acquired, gates, pinned: () => pinned };
}

function prewarmer(registry: TailRegistry) {
  const reports: PrewarmReport[] = [];
  const prewarm = createTailPrewarm({
    nc: {} as NatsConnection, // never started: no watch
    prefix: 'test',
    registry,
    onReport: (report) => reports.push(report),
    onWarn: () => undefined,
  });
  return { prewarm, reports };
}

describe('tail prewarm', () => {
  it('takes the plan’s cloud candidates in plan order, once each, without edge-only and staged ranges', () => {
    const m = manifest('v1', [
      { candidate: 's2' },
      { candidate: 'edge-only' },
      { candidate: 's1', tailOn: 'edge' },
      { candidate: 's2' },
      { candidate: 'cloud-only' },
      { candidate: 's3', tailOn: 'cloud' },
    ]);
    expect(plannedCloudSplits(m)).toEqual(['s2', 'cloud-only', 's3']);
  });

  it('prewarms each version once, pins its tails until it is done, and skips an older one a newer replaced', async () => {
    const v1 = manifest('v1', [{ candidate: 's1' }, { candidate: 's2' }]);
    const v2 = manifest('v2', [{ candidate: 's3' }]);
    const { registry, acquired, gates, pinned } = fakeRegistry([v1, v2]);
    const { prewarm, reports } = prewarmer(registry);
    gates.set('v1/s1', () => undefined);
    prewarm.request('m', 'v1');
    await new Promise((resolve) => setTimeout(resolve, 10));
    prewarm.request('m', 'v2'); // promoted while v1's first tail loads
    prewarm.request('m', 'v2');
    gates.get('v1/s1')!();
    await prewarm.idle();
    expect(acquired).toEqual(['v1/s1', 'v2/s3']);
    expect(reports.map((r) => [r.version, r.warmed, r.skipped.map((s) => s.reason)])).toEqual([
      ['v1', ['s1'], ['a newer version is current']],
      ['v2', ['s3'], []],
    ]);
    expect(pinned()).toBe(0);
    prewarm.request('m', 'v2'); // announced again: already done
    await prewarm.idle();
    expect(reports).toHaveLength(2);
    await prewarm.close();
  });

  it('also warms the splits agents use now, after the plan’s, when the new version has them with a cloud tail', async () => {
    // The plan keeps everything on the edge; agents pinned to s2 (and one on a split v2 dropped) offload anyway.
    const v2 = manifest('v2', [{ candidate: 'edge-only' }, { candidate: 's1' }]);
    const { registry, acquired } = fakeRegistry([v2], ['s2', 'gone', 'edge-only', 's1']);
    const { prewarm, reports } = prewarmer(registry);
    prewarm.request('m', 'v2');
    await prewarm.idle();
    expect(acquired).toEqual(['v2/s1', 'v2/s2']);
    expect(reports[0]!.splits).toEqual(['s1', 's2']);
    await prewarm.close();
  });

  it('reports a version it cannot read and tries it again when asked again', async () => {
    const { registry } = fakeRegistry([]);
    const { prewarm, reports } = prewarmer(registry);
    prewarm.request('m', 'v9');
    await prewarm.idle();
    prewarm.request('m', 'v9');
    await prewarm.idle();
    expect(reports.map((r) => r.skipped)).toEqual([
      [{ split: '*', reason: 'no v9' }],
      [{ split: '*', reason: 'no v9' }],
    ]);
    await prewarm.close();
  });
});
