import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, type Heartbeat } from '@cleave/proto';
import { buildHeartbeat, type HeartbeatInputs } from '../src/telemetry/heartbeat-builder.js';

/** Through the wire codec, which validates against the heartbeat schema. */
const roundTrip = (heartbeat: Heartbeat) => decodeMessage(encodeMessage(heartbeat));

const base: HeartbeatInputs = {
  agentId: 'edge-1',
  intervalMs: 5000,
  link: { mbps: 2, latestMbps: 2, baseRttMs: 10, rttMs: 12, samples: 3, lastSampleAt: 0, latestResolved: true },
  power: { level: undefined, charging: false } as unknown as HeartbeatInputs['power'],
  models: [],
  lastError: undefined,
};

describe('heartbeat downloads', () => {
  it('carries the downloads in progress, valid against the schema', () => {
    const heartbeat = buildHeartbeat({
      ...base,
      downloads: [
        { model: 'synth', version: 'v2', bytesDone: 524_288.4, bytesTotal: 1_048_576, percent: 50 },
        { model: 'other', version: 'v9', bytesDone: 0, bytesTotal: 0, percent: 0 },
      ],
    });
    expect(heartbeat.downloads).toEqual([
      { model: 'synth', version: 'v2', bytes: 524_288, totalBytes: 1_048_576, percent: 50 },
      { model: 'other', version: 'v9', bytes: 0, totalBytes: 0, percent: 0 },
    ]);
    expect(roundTrip(heartbeat)).toEqual(heartbeat);
  });

  it('leaves the field out when idle', () => {
    expect(buildHeartbeat(base)).not.toHaveProperty('downloads');
    const idle = buildHeartbeat({ ...base, downloads: [] });
    expect(idle).not.toHaveProperty('downloads');
    expect(roundTrip(idle)).toEqual(idle);
  });

  it('clamps a percent outside 0..100', () => {
    const heartbeat = buildHeartbeat({
      ...base,
      downloads: [{ model: 'synth', version: 'v2', bytesDone: 10, bytesTotal: 5, percent: 200 }],
    });
    expect(heartbeat.downloads?.[0]?.percent).toBe(100);
  });
});
