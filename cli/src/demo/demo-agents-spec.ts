// The demo's gateways: three emulated links and power sources, and the split each starts on.
import type { BundleManifest } from '@cleave/proto';
import type { LinkShape } from '../link/link-types.js';

/** Which split a gateway is pinned to: the cheapest head past the first exit, or past every exit. */
export type PinRule = 'after-first-exit' | 'after-all-exits';

/** One emulated gateway of the demo. */
export interface DemoAgentSpec {
  /** Agent id: heartbeat key and console name. */
  readonly id: string;
  /** What the row is called in the summary. */
  readonly label: string;
  readonly link: LinkShape;
  /** Battery level in percent, discharging; undefined = on mains. */
  readonly batteryPercent: number | undefined;
  /**
   * Split to pin, or undefined to follow the plan table. The example model is so small that the planner keeps it
   * on the edge at every bandwidth; two gateways are pinned to splits so the offload path (and a cut's fallback)
   * shows. `--no-pin` lets every gateway follow the plan.
   */
  readonly pin: PinRule | undefined;
}

/** Wi-Fi on mains, 4G at 60%, 3G at 15%: the three gateways, at bandwidths of the side-by-side bench. */
export const DEMO_AGENTS: readonly DemoAgentSpec[] = Object.freeze([
  {
    id: 'gw-wifi',
    label: 'Wi-Fi, mains',
    link: { rateMbps: 18.88, delayMs: 5 },
    batteryPercent: undefined,
    pin: 'after-first-exit',
  },
  {
    id: 'gw-4g',
    label: '4G, battery 60%',
    link: { rateMbps: 5.85, delayMs: 30 },
    batteryPercent: 60,
    pin: 'after-all-exits',
  },
  {
    id: 'gw-3g',
    label: '3G, battery 15%',
    link: { rateMbps: 1.1, delayMs: 100 },
    batteryPercent: 15,
    pin: undefined,
  },
]);

/**
 * The gateway whose link the demo cuts partway through: the one that has offloaded most so far, the first in
 * `ids` on a tie. A cut only shows fallbacks on a gateway whose plan sends work to the cloud, and which gateways
 * do depends on the profile this run measured (a latency-first gateway on a fast link may run edge-only).
 */
export function chooseCutAgent(ids: readonly string[], offloads: (id: string) => number): string | undefined {
  let best: string | undefined;
  for (const id of ids) if (best === undefined || offloads(id) > offloads(best)) best = id;
  return best;
}

/** The split candidate a rule picks in `manifest` (fastest measured head among those that qualify), if any. */
export function pinnedSplit(manifest: BundleManifest, rule: PinRule): string | undefined {
  const exits = (manifest.exits ?? []).map((e) => e.output);
  const wanted = rule === 'after-first-exit' ? exits.slice(0, 1) : exits;
  if (wanted.length === 0) return undefined;
  return manifest.candidates
    .filter((c) => c.kind === 'split' && wanted.every((e) => (c.exits ?? []).includes(e)))
    .filter((c) => rule === 'after-all-exits' || (c.exits ?? []).length === 1)
    .sort((a, b) => (a.profile.edge?.medianMs ?? 0) - (b.profile.edge?.medianMs ?? 0))[0]?.id;
}
