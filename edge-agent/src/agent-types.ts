// Types shared by the agent and its two APIs (HTTP and NATS), kept apart so the APIs do not import the agent.
import type { Objective } from '@cleave/proto';
import type { PowerState } from './adapt/battery-monitor.js';
import type { ControlSettings, Decision, LiveCostStatus } from './adapt/model-controller.js';
import type { BreakerState } from './runtime/circuit-breaker.js';
import type { InferResult } from './runtime/inference-pipeline.js';
import type { RequestTensor } from './runtime/input-validation.js';
import type { StatsSnapshot } from './telemetry/request-stats.js';

/** Per-request options of {@link InferService.infer}. */
export interface InferOptions {
  /** Deadline relative to now, in ms. @default the policy's deadlineMs */
  readonly deadlineMs?: number;
  /** W3C trace context of the caller, so the request's spans join its trace. */
  readonly traceparent?: string;
  readonly tracestate?: string;
}

/** Liveness and readiness. */
export interface AgentHealth {
  /** False once the agent is closed. */
  readonly live: boolean;
  /** True when every model has a bundle loaded and the agent is not draining. */
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

/** A switch as kept in the status history. */
export interface SwitchRecord {
  readonly at: string;
  readonly from: string | null;
  readonly to: string;
  readonly reason: string;
}

/** One model's state. */
export interface ModelStatus {
  readonly model: string;
  readonly version: string | null;
  readonly decision: Decision | null;
  readonly settings: ControlSettings | null;
  readonly totals: StatsSnapshot;
  /** The most recent switches, oldest first. */
  readonly switches: readonly SwitchRecord[];
  /** Total switches since start. */
  readonly switchCount: number;
  /** Live estimates and the options they rank, best first; null (or absent) while live re-costing is off. */
  readonly liveCosts?: LiveCostStatus | null;
}

/** The whole agent's state, for `/v1/status` and tests. */
export interface AgentStatus {
  readonly agentId: string;
  readonly health: AgentHealth;
  readonly connected: boolean;
  readonly breaker: BreakerState;
  readonly link: {
    readonly mbps: number | null;
    readonly latestMbps: number | null;
    readonly rttMs: number | null;
    readonly baseRttMs: number | null;
    readonly samples: number;
    readonly probes: number;
  };
  readonly power: PowerState;
  /** The objective the battery asks for (models in `auto` mode use it). */
  readonly batteryObjective: Objective;
  readonly lastError: string | null;
  readonly models: readonly ModelStatus[];
}

/** What the HTTP and NATS APIs serve. */
export interface InferService {
  /** Runs one request; throws EdgeAgentError for requests it refuses. */
  infer(model: string, inputs: Readonly<Record<string, RequestTensor>>, options?: InferOptions): Promise<InferResult>;
  health(): AgentHealth;
  status(): AgentStatus;
  /** Undefined for a model this agent does not serve. */
  modelStatus(model: string): ModelStatus | undefined;
}
