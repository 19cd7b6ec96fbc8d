// The heartbeat of a simulated agent: the same message a real `cleave edge` writes (one model, link estimates,
// battery, breaker, the latest switches), with figures that drift from beat to beat, so the console parses, stores
// and sends what it would for a real fleet.
import { type Heartbeat, PROTOCOL_VERSION } from '@cleave/proto';

/** Switches a heartbeat carries, as a real agent's does (older consoles drop the field: zod strips unknown keys). */
const SWITCHES_KEPT = 5;

/** One controller switch, as the agent reports it. */
interface SimulatedSwitch {
  readonly at: string;
  readonly from: string | null;
  readonly to: string;
  readonly reason: string;
}

/** What a simulated agent reports besides its own id. */
export interface SimulatedModel {
  readonly model: string;
  readonly version: string;
  readonly split: string;
}

/** The agent's state that persists between beats. */
export interface SimulatedAgentState {
  readonly agentId: string;
  readonly intervalMs: number;
  readonly model: SimulatedModel;
  /** Deterministic per-agent randomness in [0, 1). */
  readonly random: () => number;
  beats: number;
  /** Requests and offloads of the interval that just ended (counted by the load loop). */
  requests: number;
  offloads: number;
  failures: number;
  switches: SimulatedSwitch[];
}

/** Builds the heartbeat of the interval that just ended and resets its counters. */
export function simulatedHeartbeat(state: SimulatedAgentState): Heartbeat {
  const r = state.random;
  state.beats += 1;
  // One switch now and then, as a real controller makes when its bandwidth estimate moves.
  if (state.beats % 24 === 1) {
    const from = state.switches.at(-1)?.to ?? null;
    state.switches.push({
      at: new Date().toISOString(),
      from,
      to: `${state.model.split}/f16/latency/1`,
      reason: `bandwidth estimate ${(5 + r() * 20).toFixed(1)} Mbps: ${state.model.split} is fastest`,
    });
    if (state.switches.length > SWITCHES_KEPT) state.switches.shift();
  }
  const requests = state.requests;
  const offloads = state.offloads;
  const exits = Math.max(0, requests - offloads);
  const heartbeat = {
    kind: 'heartbeat',
    v: PROTOCOL_VERSION,
    agentId: state.agentId,
    sentAt: Date.now(),
    intervalMs: state.intervalMs,
    models: [
      {
        model: state.model.model,
        version: state.model.version,
        split: state.model.split,
        codec: 'f16',
        exitRate: requests === 0 ? 0 : exits / requests,
        p50Ms: 4 + r() * 3,
        p95Ms: 20 + r() * 30,
        offloads,
        fallbacks: state.failures,
        requests,
        objective: 'latency',
        budgetPoints: 1,
        expectedAccuracy: 0.91,
        exits,
        // A request sent late in the last interval may fail in this one: never a negative count.
        cloud: Math.max(0, offloads - state.failures),
        reason: state.switches.at(-1)?.reason ?? 'plan for the measured link',
        switches: [...state.switches],
      },
    ],
    bandwidthMbps: 5 + r() * 20,
    rttMs: 20 + r() * 60,
    battery: { level: 0.2 + r() * 0.8, charging: r() < 0.3 },
    breaker: 'closed',
  } as Heartbeat;
  state.requests = 0;
  state.offloads = 0;
  state.failures = 0;
  return heartbeat;
}
