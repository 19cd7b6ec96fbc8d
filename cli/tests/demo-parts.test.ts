// The demo's pure parts: the summary table and statistics, the pinned-split rule, and the emulated battery as the
// edge agent reads it.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ClientResult, readPowerSupply } from '@cleave/edge-agent';
import type { BundleManifest } from '@cleave/proto';
import { chooseCutAgent, pinnedSplit } from '../src/demo/demo-agents-spec.js';
import { writeBatteryDir } from '../src/demo/demo-agents.js';
import { createAgentStats, formatTable, recordAnswer, recordError, summaryRow } from '../src/demo/demo-stats.js';

function answer(over: Partial<ClientResult>, logits: number[]): ClientResult {
  return {
    id: 'r',
    model: 'fmnist',
    version: 'v1',
    tailVersion: null,
    split: 'split-11',
    codec: null,
    objective: 'latency',
    exit: null,
    ranOn: 'edge',
    fallbackReason: null,
    outputs: { logits: { dtype: 'float32', dims: [1, logits.length], data: Float32Array.from(logits) } },
    timings: {},
    bytes: { sent: 0, received: 0 },
    replica: null,
    ...over,
  };
}

describe('demo statistics', () => {
  it('counts exits, offloads, fallbacks, errors and accuracy against the label', () => {
    const stats = createAgentStats();
    recordAnswer(stats, answer({ exit: 'exit_1' }, [0, 9, 1]), 1, 2);
    recordAnswer(stats, answer({ ranOn: 'cloud', bytes: { sent: 800, received: 40 } }, [5, 0, 1]), 0, 20);
    recordAnswer(stats, answer({ ranOn: 'fallback', split: 'edge-only' }, [5, 0, 1]), 2, 40);
    recordError(stats, new Error('timed out'));
    const row = summaryRow('gw', 'link', 'mains', stats);
    expect(row).toMatchObject({ requests: 3, offloads: 1, fallbacks: 1, errors: 1, split: 'edge-only' });
    expect(row.exitRate).toBeCloseTo(1 / 3);
    expect(row.accuracy).toBeCloseTo(2 / 3);
    expect(stats.bytesSent).toBe(800);
    expect(stats.splits).toEqual({ 'split-11': 2, 'edge-only': 1 });
    expect(row).toMatchObject({ p50Ms: 20, p95Ms: 40 });
    expect(summaryRow('gw', 'link', 'mains', createAgentStats()).p50Ms).toBeNaN();
  });

  it('says when the split in force finishes hard cases on the edge (staged by plan)', () => {
    const stats = createAgentStats();
    recordAnswer(stats, answer({ exit: 'exit_1', split: 'split-09' }, [0, 9]), 1, 1);
    expect(summaryRow('gw', 'link', 'mains', stats).split).toBe('split-09');
    recordAnswer(stats, answer({ split: 'split-09' }, [0, 9]), 1, 1);
    expect(summaryRow('gw', 'link', 'mains', stats).split).toBe('split-09, tail on edge');
    recordAnswer(stats, answer({ split: 'split-09', ranOn: 'cloud' }, [0, 9]), 1, 1);
    expect(summaryRow('gw', 'link', 'mains', stats).split).toBe('split-09');
  });

  it('aligns text left and numbers right', () => {
    const table = formatTable(
      ['agent', 'requests'],
      [
        ['gw-wifi', '7'],
        ['gw-3g', '1200'],
      ],
      1,
    );
    expect(table).toBe(
      ['agent    requests', '-------  --------', 'gw-wifi         7', 'gw-3g        1200', ''].join('\n'),
    );
  });
});

describe('pinned split', () => {
  const candidate = (id: string, exits: string[], medianMs: number) => ({
    id,
    kind: id.startsWith('split') ? 'split' : id,
    exits,
    profile: { edge: { medianMs } },
  });
  const manifest = {
    exits: [{ output: 'exit_1' }, { output: 'exit_2' }],
    candidates: [
      candidate('edge-only', ['exit_1', 'exit_2'], 0.4),
      candidate('split-02', [], 0.01),
      candidate('split-12', ['exit_1'], 0.12),
      candidate('split-11', ['exit_1'], 0.09),
      candidate('split-22', ['exit_1', 'exit_2'], 0.19),
      candidate('split-20', ['exit_1', 'exit_2'], 0.16),
    ],
  } as unknown as BundleManifest;

  it('picks the fastest head past the first exit only, or past every exit', () => {
    expect(pinnedSplit(manifest, 'after-first-exit')).toBe('split-11');
    expect(pinnedSplit(manifest, 'after-all-exits')).toBe('split-20');
  });

  it('pins nothing for a model without exits', () => {
    expect(pinnedSplit({ ...manifest, exits: [] }, 'after-all-exits')).toBeUndefined();
  });
});

describe('cut gateway', () => {
  const ids = ['gw-wifi', 'gw-4g', 'gw-3g'];
  it('is the one that has offloaded most, so the cut shows fallbacks', () => {
    const offloads: Record<string, number> = { 'gw-wifi': 0, 'gw-4g': 12, 'gw-3g': 9 };
    expect(chooseCutAgent(ids, (id) => offloads[id]!)).toBe('gw-4g');
  });
  it('is the first on a tie, and none without gateways', () => {
    expect(chooseCutAgent(ids, () => 0)).toBe('gw-wifi');
    expect(chooseCutAgent([], () => 0)).toBeUndefined();
  });
});

describe('emulated battery', () => {
  it('is read by the edge agent as a discharging battery at the level, or as mains', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cleave-battery-'));
    await writeBatteryDir(join(dir, 'bat'), 15);
    await writeBatteryDir(join(dir, 'ac'), undefined);
    expect(await readPowerSupply(join(dir, 'bat'))).toMatchObject({ onMains: false, level: 0.15, batteries: 1 });
    expect(await readPowerSupply(join(dir, 'ac'))).toMatchObject({ onMains: true, batteries: 0 });
  });
});
