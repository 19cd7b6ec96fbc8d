// Rollout arithmetic: what each agent downloads for a promotion (only content its cached version lacks, of the
// candidates it fetches), how two manifests differ, where each agent stands, and which version a cancel restores.
import { describe, expect, it } from 'vitest';
import { type BundleManifest, type Heartbeat, parseBundleManifest, PROTOCOL_VERSION } from '@cleave/proto';
import type { FleetAgent } from '../src/console-data.js';
import { diffManifests, estimateAgentDownload } from '../src/rollouts/promotion-preview.js';
import { previousVersion } from '../src/rollouts/rollout-routes.js';
import { rolloutStatus } from '../src/rollouts/rollout-status.js';

const sha = (c: string) => c.repeat(64);
const stage = { medianMs: 1, p90Ms: 1, runs: 1, batch: 1 };
const spec = (name: string) => ({ name, dtype: 'float32', shape: ['N', 4] });

/** A bundle with a shared weights file and three candidates; `blobs` gives each file's content (a hash letter). */
function bundle(
  version: string,
  blobs: Record<string, [string, number]>,
  options: { candidates?: string[]; planned?: string[]; exitRate?: number; accuracy?: number } = {},
): BundleManifest {
  const ids = options.candidates ?? ['edge-only', 'split-1', 'split-2'];
  const files = Object.fromEntries(Object.entries(blobs).map(([p, [c, bytes]]) => [p, { sha256: sha(c), bytes }]));
  const point = {
    budgetPoints: 1,
    thresholds: { exit_1: 0.8 },
    exitRate: options.exitRate ?? 0.5,
    accuracy: options.accuracy ?? 0.9,
    perExit: [],
  };
  return parseBundleManifest({
    format: 'cleave.bundle/v1',
    version,
    createdAt: '2026-01-01T00:00:00.000Z',
    model: { id: 'm', file: 'model.onnx', sha256: sha('f'), inputs: [spec('input')], outputs: [spec('logits')] },
    weights: { file: 'weights.bin', tensors: 4 },
    files,
    candidates: ids.map((id) => ({
      id,
      kind: id === 'edge-only' ? 'edge-only' : 'split',
      cut: id === 'edge-only' ? [] : ['cut'],
      cutTensors: id === 'edge-only' ? [] : [spec('cut')],
      head: id === 'edge-only' ? 'model.onnx' : `${id}.head.onnx`,
      tail: id === 'edge-only' ? null : `${id}.tail.onnx`,
      files: id === 'edge-only' ? ['model.onnx', 'weights.bin'] : [`${id}.head.onnx`, 'weights.bin'],
      bytesPerSample: { f32: 16, f16: 8, int8: 4 },
      profile: { edge: stage, cloud: stage },
    })),
    exitPolicy: {
      measure: 'max-prob',
      budgetPoints: 1,
      floorAccuracy: 0.85,
      finalAccuracy: 0.92,
      samples: 10,
      source: 'x',
      operatingPoint: point,
      curve: [point],
    },
    plan: {
      rttMs: 5,
      maxPayloadBytes: 1 << 20,
      objectives: ['latency'],
      ranges: (options.planned ?? ['split-1']).map((candidate, i) => ({
        objective: 'latency',
        minMbps: i,
        maxMbps: null,
        candidate,
        codec: 'f32',
        expectedLatencyMs: 1,
        expectedEdgeJoules: 0,
      })),
    },
  });
}

const v1 = bundle('v000000000001', {
  'model.onnx': ['a', 1000],
  'weights.bin': ['b', 50_000],
  'split-1.head.onnx': ['c', 300],
  'split-2.head.onnx': ['d', 400],
  'split-1.tail.onnx': ['1', 100],
  'split-2.tail.onnx': ['2', 100],
});
// Tails run in the cloud: an agent never fetches them (candidate files list the head and the weights).
// A retrained v2: new weights, the same graphs (same content), split-2 gone, split-3 new and planned.
const v2 = bundle(
  'v000000000002',
  {
    'model.onnx': ['a', 1000],
    'weights.bin': ['e', 52_000],
    'split-1.head.onnx': ['c', 300],
    'split-3.head.onnx': ['9', 700],
    'split-1.tail.onnx': ['1', 100],
    'split-3.tail.onnx': ['3', 100],
  },
  { candidates: ['edge-only', 'split-1', 'split-3'], planned: ['split-1', 'split-3'], exitRate: 0.6, accuracy: 0.88 },
);

function agent(id: string, hb: Partial<Heartbeat>, stale = false): FleetAgent {
  return {
    agentId: id,
    heartbeat: { kind: 'heartbeat', v: PROTOCOL_VERSION, agentId: id, sentAt: 0, intervalMs: 500, models: [], ...hb },
    spoofed: false,
    ageMs: stale ? 5000 : 100,
    stale,
  };
}
const serving = (version: string, split = 'split-1') => ({
  model: 'm',
  version,
  split,
  codec: 'f32' as const,
  exitRate: 0.5,
  p50Ms: 1,
  p95Ms: 2,
  offloads: 0,
  fallbacks: 0,
  requests: 0,
});

describe('estimateAgentDownload', () => {
  it('counts only content the held version lacks, over the candidates the agent fetches', () => {
    const estimate = estimateAgentDownload(v2, v1, 'split-1');
    // Fetched of v2: edge-only (model, weights), split-1 and split-3 (planned). model.onnx and split-1's head keep
    // their hashes; the weights and split-3's head are new.
    expect(estimate.files).toEqual(['weights.bin', 'split-3.head.onnx']);
    expect(estimate.bytes).toBe(52_000 + 700);
    expect(estimate.reusedBytes).toBe(1000 + 300);
    console.log(`promotion v1 -> v2: ${estimate.bytes} bytes to download, ${estimate.reusedBytes} reused`);
  });

  it('downloads everything it fetches when nothing is cached, and nothing for the version it holds', () => {
    expect(estimateAgentDownload(v2, undefined, 'split-1').bytes).toBe(1000 + 52_000 + 300 + 700);
    expect(estimateAgentDownload(v1, v1, 'split-1')).toEqual({ files: [], bytes: 0, reusedBytes: 51_300 });
  });

  it('adds the split the agent runs now even when the plan does not name it', () => {
    // An agent pinned to split-2 holds its head; going back from v2 to v1 it fetches split-2's head again.
    const back = estimateAgentDownload(v1, v2, 'split-2');
    expect(back.files).toEqual(['weights.bin', 'split-2.head.onnx']);
    expect(back.bytes).toBe(50_000 + 400);
  });
});

describe('diffManifests', () => {
  it('reports exit rate, accuracy and candidates added and removed', () => {
    const diff = diffManifests(v1, v2);
    expect(diff.exits.before).toMatchObject({ exitRate: 0.5, accuracy: 0.9, floorAccuracy: 0.85 });
    expect(diff.exits.after).toMatchObject({ exitRate: 0.6, accuracy: 0.88 });
    expect(diff.candidates).toEqual({ added: ['split-3'], removed: ['split-2'], kept: ['edge-only', 'split-1'] });
    expect(diff.bundleBytes).toEqual({ before: 51_900, after: 54_200 });
  });

  it('diffs against nothing when the model has no current version', () => {
    const diff = diffManifests(undefined, v1);
    expect(diff.from).toBeUndefined();
    expect(diff.exits.before).toBeNull();
    expect(diff.candidates.added).toEqual(['edge-only', 'split-1', 'split-2']);
  });
});

describe('rolloutStatus', () => {
  it('sorts agents into current, downloading (with bytes), failed, behind and stale', () => {
    const fleet = [
      agent('on-current', { models: [serving('v2')] }),
      agent('downloading', {
        models: [serving('v1')],
        downloads: [{ model: 'm', version: 'v2', bytes: 20_000, totalBytes: 52_700, percent: 37.9 }],
      }),
      agent('failed', {
        models: [serving('v1')],
        lastError: '2026-01-01T00:00:00.000Z cannot load bundle m@v2: signature does not verify',
      }),
      agent('waiting', { models: [serving('v1')], lastError: 'cannot load bundle m@v0: old failure' }),
      agent('gone', { models: [serving('v1')] }, true),
      agent('other-model', { models: [{ ...serving('x1'), model: 'other' }] }),
    ];
    const [rollout] = rolloutStatus([{ model: 'm', current: 'v2', versions: ['v1', 'v2'] }], fleet);
    expect(rollout!.agents.map((a) => [a.agentId, a.state])).toEqual([
      ['on-current', 'current'],
      ['downloading', 'downloading'],
      ['failed', 'failed'],
      ['waiting', 'behind'],
      ['gone', 'stale'],
    ]);
    expect(rollout!.counts).toEqual({ current: 1, downloading: 1, failed: 1, behind: 1, stale: 1 });
    expect(rollout!.downloadedBytes).toBe(20_000);
    expect(rollout!.totalBytes).toBe(52_700);
    expect(rollout!.agents[2]!.error).toContain('signature does not verify');
  });
});

describe('previousVersion', () => {
  it('is the last distinct version before the current one', () => {
    expect(previousVersion(['v1', 'v2', 'v3'])).toBe('v2');
    expect(previousVersion(['v1', 'v2', 'v2'])).toBe('v1');
    expect(previousVersion(['v1'])).toBeUndefined();
    expect(previousVersion([])).toBeUndefined();
  });
});
