// What a rollout test watches while a new version spreads: every heartbeat as it arrives (lateness, the version in
// use, download progress), steady load through each agent's local API (latency per route), and the bytes on a link.
import type { NatsConnection } from '@nats-io/transport-node';
import type { EmulatedLink } from '@cleave/cli';
import type { EdgeClient } from '@cleave/edge-agent';
import { decodeMessageOfKind, heartbeatWildcard, type Heartbeat, MessageKind } from '@cleave/proto';

/** One heartbeat as the server side saw it. */
export interface SeenHeartbeat {
  readonly at: number;
  readonly body: Heartbeat;
}

/** Records every heartbeat of every agent under `prefix`. */
export function recordHeartbeats(nc: NatsConnection, prefix: string): { byAgent: Map<string, SeenHeartbeat[]> } {
  const byAgent = new Map<string, SeenHeartbeat[]>();
  const sub = nc.subscribe(heartbeatWildcard(prefix));
  void (async () => {
    for await (const msg of sub) {
      const body = decodeMessageOfKind(msg.data, [MessageKind.Heartbeat]);
      // Keyed by the subject it came on (what the permissions vouch for), not the id in the body.
      const agent = msg.subject.slice(msg.subject.lastIndexOf('.') + 1);
      const list = byAgent.get(agent) ?? [];
      list.push({ at: Date.now(), body });
      byAgent.set(agent, list);
    }
  })();
  return { byAgent };
}

/** The longest gap between consecutive heartbeats of `seen` that arrived within [from, to]. */
export function longestHeartbeatGap(seen: readonly SeenHeartbeat[], from: number, to: number): number {
  const times = seen.map((s) => s.at).filter((t) => t >= from && t <= to);
  let longest = 0;
  for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i]! - times[i - 1]!);
  return longest;
}

/** The version of `model` an agent's latest heartbeat reports, and its downloads in progress. */
export function latestHeartbeat(seen: readonly SeenHeartbeat[] | undefined): Heartbeat | undefined {
  return seen?.[seen.length - 1]?.body;
}

/** One answered (or failed) request of the load. */
export interface LoadSample {
  readonly at: number;
  readonly ms: number;
  readonly ranOn: 'edge' | 'cloud' | 'fallback' | 'error';
  readonly version: string | undefined;
}

/** Steady requests to one agent, `periodMs` apart (never overlapping), until stopped. */
export function startSteadyLoad(
  client: EdgeClient,
  model: string,
  images: readonly Float32Array[],
  periodMs: number,
): { samples: LoadSample[]; stop(): Promise<void> } {
  const samples: LoadSample[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const started = Date.now();
      try {
        const result = await client.infer(model, {
          input: { dims: [1, 1, 28, 28], data: images[i % images.length]! },
        });
        samples.push({ at: started, ms: Date.now() - started, ranOn: result.ranOn, version: result.version });
      } catch {
        samples.push({ at: started, ms: Date.now() - started, ranOn: 'error', version: undefined });
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, periodMs - (Date.now() - started))));
    }
  })();
  return {
    samples,
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** The q-quantile (0..1) of `values` by nearest rank; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** Samples a link's byte counter toward the agent every `everyMs` until stopped. */
export function sampleLinkTraffic(
  link: EmulatedLink,
  everyMs: number,
): { points: { at: number; toAgentBytes: number }[]; stop(): void } {
  const points: { at: number; toAgentBytes: number }[] = [];
  const timer = setInterval(() => {
    const at = Date.now();
    void link.traffic().then((t) => points.push({ at, toAgentBytes: t.toAgentBytes }));
  }, everyMs);
  return { points, stop: () => clearInterval(timer) };
}

/**
 * How long after `from` the link toward the agent went quiet: the first sample time from which every later window
 * of `windowMs` carries less than `quietBitsPerSecond`. Undefined when it never did within the samples.
 */
export function quietAfter(
  points: readonly { at: number; toAgentBytes: number }[],
  from: number,
  windowMs: number,
  quietBitsPerSecond: number,
): number | undefined {
  const rateFrom = (i: number): number | undefined => {
    const start = points[i]!;
    const end = points.find((p) => p.at >= start.at + windowMs);
    if (end === undefined) return undefined;
    return ((end.toAgentBytes - start.toAgentBytes) * 8 * 1000) / (end.at - start.at);
  };
  let quietSince: number | undefined;
  for (let i = 0; i < points.length; i++) {
    if (points[i]!.at < from) continue;
    const rate = rateFrom(i);
    if (rate === undefined) break;
    if (rate < quietBitsPerSecond) quietSince ??= points[i]!.at;
    else quietSince = undefined;
  }
  return quietSince === undefined ? undefined : quietSince - from;
}
