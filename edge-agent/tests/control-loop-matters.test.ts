// Which bandwidth samples are worth confirming with a link probe: only those at which some model would run
// differently. A device under a CPU quota measures its small transfers noisily; confirming every outlier sent 64 KiB
// probes that changed nothing.
import { describe, expect, it } from 'vitest';
import { createBandwidthEstimator } from '../src/adapt/bandwidth-estimator.js';
import { createControlLoop } from '../src/agent/control-loop.js';
import type { LoadedBundle } from '../src/bundle/loaded-bundle.js';
import { EdgeConfigSchema } from '../src/config/edge-config-schema.js';
import { syntheticManifest } from './synthetic-manifest.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function loopAt(mbps: number, pin?: string) {
  const config = EdgeConfigSchema.parse({
    agentId: 'gw',
    models: [{ id: 'synth', objective: 'latency', ...(pin === undefined ? {} : { pin }) }],
    control: { initialMbps: mbps },
  });
  const loop = createControlLoop({ config, logger: quiet, estimator: createBandwidthEstimator(), now: () => 0 });
  const manifest = syntheticManifest();
  // The loop reads only these of a loaded bundle; warming a split is not this test's business.
  const bundle = { model: 'synth', version: manifest.version, manifest, prepare: () => Promise.resolve() };
  loop.onBundle(bundle as unknown as LoadedBundle);
  return loop;
}

describe('control loop: does a bandwidth matter', () => {
  it('matters where the plan changes split or codec, not inside the current range', () => {
    // The synthetic plan's latency objective: split-a between 2 and 12 Mbps.
    const loop = loopAt(5);
    expect(loop.mattersAt(3)).toBe(false);
    expect(loop.mattersAt(11)).toBe(false);
    expect(loop.mattersAt(1)).toBe(true);
    expect(loop.mattersAt(50)).toBe(true);
  });

  it('never matters for a pinned split', () => {
    const loop = loopAt(5, 'split-a');
    expect(loop.mattersAt(0.1)).toBe(false);
    expect(loop.mattersAt(500)).toBe(false);
  });
});
