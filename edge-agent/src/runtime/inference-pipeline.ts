// One request, from checked inputs to an answer: head (with exits) → early answer, or offload the cut tensors →
// on any trouble, the tail locally. Every request that passes validation gets outputs.
import { type Context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { NatsConnection } from '@nats-io/transport-node';
import { remoteParentContext, traceHeaders } from '@cleave/node-runtime';
import type { Codec, Objective, SplitCandidate } from '@cleave/proto';
import type { Decision } from '../adapt/model-controller.js';
import type { LoadedBundle } from '../bundle/loaded-bundle.js';
import type { EdgeTelemetry } from '../telemetry/edge-telemetry.js';
import type { RanOn } from '../telemetry/request-stats.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import { decideEarlyExit } from './exit-decision.js';
import { finalOutputs } from './final-outputs.js';
import type { ThrottleClock } from '../adapt/cpu-throttle.js';
import { type FallbackReason, type OffloadOutcome, offloadTail } from './offload-client.js';
import type { AgentTensor } from './tensor-io.js';

/** Where the time of one request went, in ms. Zero for stages that did not run. */
export interface InferTimings {
  totalMs: number;
  headMs: number;
  encodeMs: number;
  /** Request sent → reply received, minus the cloud's queue and processing time: the link and NATS. */
  networkMs: number;
  /** The cloud's queue wait and tail run, as its reply reports them. */
  cloudQueueMs: number;
  cloudMs: number;
  decodeMs: number;
  /** The tail on this device (fallback). */
  tailMs: number;
  /** Time spent waiting for a cloud that then failed, before the local tail. */
  wastedMs: number;
}

/** The answer to one request. */
export interface InferResult {
  readonly id: string;
  readonly model: string;
  /** Bundle version of the head (and of the tail: they always match). */
  readonly version: string;
  /** Version of the tail that ran, or null when no tail ran (early exit, edge-only). */
  readonly tailVersion: string | null;
  readonly split: string;
  /** Codec of the cut tensor when it crossed the wire, else null. */
  readonly codec: Codec | null;
  readonly objective: Objective;
  /** The exit that answered, or null. */
  readonly exit: string | null;
  readonly ranOn: RanOn;
  readonly fallbackReason: FallbackReason | null;
  readonly outputs: readonly AgentTensor[];
  readonly timings: Readonly<InferTimings>;
  readonly bytes: { readonly sent: number; readonly received: number };
  /** The cloud replica that answered. */
  readonly replica: string | null;
}

/** What the pipeline needs from the agent. */
export interface PipelineDeps {
  readonly prefix: string;
  readonly telemetry: EdgeTelemetry;
  readonly breaker: CircuitBreaker;
  readonly now: () => number;
  /** Time the kernel held the agent back, measured around each offload for the link estimate. */
  readonly throttle?: ThrottleClock;
  /** The live connection, or undefined while there is none. */
  nats(): NatsConnection | undefined;
  /** Why the cloud must not be asked for (model, version) now, if it must not. */
  blocked(model: string, version: string): FallbackReason | undefined;
  /** Called with every offload outcome, success or not (estimator, breaker bookkeeping, logs). */
  onOffload(bundle: LoadedBundle, decision: Decision, outcome: OffloadOutcome): void;
}

/** A request after validation. */
export interface PipelineRequest {
  readonly id: string;
  readonly bundle: LoadedBundle;
  readonly decision: Decision;
  readonly inputs: readonly AgentTensor[];
  /** Absolute deadline, epoch ms. */
  readonly deadline: number;
  /** When the request arrived (the `now` clock). */
  readonly startedAt: number;
  readonly traceparent?: string;
  readonly tracestate?: string;
}

// The local tail needs a moment after the cloud gives up; this much beyond its typical time is kept in reserve.
const TAIL_RESERVE_SLACK_MS = 1;
// A cloud wait shorter than this cannot succeed; the tail runs locally at once.
const MIN_OFFLOAD_WAIT_MS = 2;

/** Runs one request. Throws only for agent faults (a model that fails to run), never for the cloud's. */
export async function runPipeline(deps: PipelineDeps, request: PipelineRequest): Promise<InferResult> {
  const { now, telemetry } = deps;
  const { bundle, decision } = request;
  const manifest = bundle.manifest;
  const candidate = bundle.candidate(decision.split);
  const finals = finalOutputs(manifest);
  const timings: InferTimings = {
    totalMs: 0,
    headMs: 0,
    encodeMs: 0,
    networkMs: 0,
    cloudQueueMs: 0,
    cloudMs: 0,
    decodeMs: 0,
    tailMs: 0,
    wastedMs: 0,
  };
  const span = telemetry.tracer.startSpan(
    'cleave.edge.infer',
    {
      kind: SpanKind.SERVER,
      startTime: performance.timeOrigin + request.startedAt,
      attributes: {
        'cleave.request_id': request.id,
        'cleave.model': bundle.model,
        'cleave.version': bundle.version,
        'cleave.split': candidate.id,
        'cleave.objective': decision.objective,
      },
    },
    remoteParentContext(request.traceparent, request.tracestate),
  );
  const ctx = trace.setSpan(remoteParentContext(request.traceparent, request.tracestate), span);
  const finish = (partial: Omit<InferResult, 'id' | 'model' | 'version' | 'split' | 'objective' | 'timings'>) => {
    timings.totalMs = now() - request.startedAt;
    const result: InferResult = {
      id: request.id,
      model: bundle.model,
      version: bundle.version,
      split: candidate.id,
      objective: decision.objective,
      timings,
      ...partial,
    };
    span.setAttributes({
      'cleave.ran_on': result.ranOn,
      'cleave.exit': result.exit ?? 'none',
      'cleave.codec': result.codec ?? 'none',
      'cleave.bytes_sent': result.bytes.sent,
      'cleave.bytes_received': result.bytes.received,
      'cleave.bandwidth_mbps': decision.mbps,
      ...(result.fallbackReason === null ? {} : { 'cleave.fallback_reason': result.fallbackReason }),
    });
    span.end();
    return result;
  };

  try {
    let available: Map<string, AgentTensor>;
    if (candidate.kind === 'cloud-only') {
      available = new Map(request.inputs.map((t) => [t.name, t]));
    } else {
      const head = await bundle.session(candidate.head!);
      // With several final outputs no exit can answer, so the head need not even fetch the exits.
      const exits = candidate.kind === 'split' && finals.length === 1 ? (candidate.exits ?? []) : [];
      const fetches = candidate.kind === 'edge-only' ? finals : [...candidate.cut, ...exits];
      const started = now();
      available = await child(ctx, 'cleave.edge.head', () => head.run(request.inputs, fetches));
      timings.headMs = now() - started;
      if (candidate.kind === 'edge-only') {
        return finish(
          local(
            'edge',
            finals.map((n) => available.get(n)!),
          ),
        );
      }
      const early =
        finals.length === 1
          ? decideEarlyExit(
              { names: exits, tensors: available },
              decision.thresholds,
              manifest.exitPolicy?.measure ?? 'max-prob',
              {
                task: manifest.model.task ?? 'classification',
                finalShape: manifest.model.outputs.find((o) => o.name === finals[0])?.shape,
              },
            )
          : undefined;
      if (early !== undefined) {
        // The exit's rows stand in for the one final output, under its name.
        const answer: AgentTensor = { name: finals[0]!, dtype: 'float32', dims: early.dims, data: early.logits };
        return finish({ ...local('edge', [answer]), exit: early.exit });
      }
    }
    const cut = candidate.cut.map((name) => available.get(name)!);
    const tail = await bundle.session(candidate.tail!);
    // The tail on this device, on the exact (unencoded) cut tensors.
    const tailHere = async (
      ranOn: 'edge' | 'fallback',
      fallbackReason: FallbackReason | null,
      bytes = { sent: 0, received: 0 },
    ) => {
      const started = now();
      const tailOut = await child(ctx, 'cleave.edge.tail_local', () => tail.run(cut, finals));
      timings.tailMs = now() - started;
      const outputs = finals.map((n) => tailOut.get(n)!);
      return finish({ ...local(ranOn, outputs), tailVersion: bundle.version, fallbackReason, bytes });
    };
    // Staged on the device by plan: no exit was confident, so the tail finishes here and nothing is sent.
    if (decision.tailOn === 'edge') return tailHere('edge', null);
    let reason = deps.blocked(bundle.model, bundle.version);
    // What a failed offload really put on (and took off) the wire: a fallback reports it, not zero.
    let spent = { sent: 0, received: 0 };
    if (reason === undefined) {
      const outcome = await offload(deps, request, candidate, cut, finals, tail.typicalMs ?? 0, ctx);
      deps.onOffload(bundle, decision, outcome);
      timings.encodeMs = outcome.encodeMs;
      if (outcome.ok) {
        timings.networkMs = Math.max(0, outcome.elapsedMs - outcome.queueMs - outcome.processingMs);
        timings.cloudQueueMs = outcome.queueMs;
        timings.cloudMs = outcome.processingMs;
        timings.decodeMs = outcome.decodeMs;
        return finish({
          tailVersion: bundle.version,
          codec: decision.codec,
          exit: null,
          ranOn: 'cloud',
          fallbackReason: null,
          outputs: finals.map((n) => outcome.outputs.find((o) => o.name === n)!),
          bytes: { sent: outcome.bytesSent, received: outcome.bytesReceived },
          replica: outcome.replica ?? null,
        });
      }
      timings.wastedMs = outcome.elapsedMs;
      reason = outcome.reason;
      spent = { sent: outcome.bytesSent, received: outcome.bytesReceived };
      span.addEvent('cleave.fallback', { reason: outcome.reason, message: outcome.message });
    }
    return tailHere('fallback', reason, spent);
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    span.end();
    throw error;
  }

  async function child<T>(parent: Context, name: string, fn: () => Promise<T>): Promise<T> {
    const s = telemetry.tracer.startSpan(name, {}, parent);
    try {
      return await fn();
    } finally {
      s.end();
    }
  }
}

function local(ranOn: RanOn, outputs: readonly AgentTensor[]) {
  return {
    tailVersion: null,
    codec: null,
    exit: null,
    ranOn,
    fallbackReason: null,
    outputs,
    bytes: { sent: 0, received: 0 },
    replica: null,
  };
}

async function offload(
  deps: PipelineDeps,
  request: PipelineRequest,
  candidate: SplitCandidate,
  cut: readonly AgentTensor[],
  finals: readonly string[],
  tailTypicalMs: number,
  ctx: Context,
): Promise<OffloadOutcome> {
  const { now } = deps;
  const nc = deps.nats();
  const base = { encodeMs: 0, elapsedMs: 0, bytesSent: 0, bytesReceived: 0 };
  if (nc === undefined || nc.isClosed()) {
    return { ok: false, reason: 'no_connection', message: 'not connected to NATS', cloudUnwell: false, ...base };
  }
  if (!deps.breaker.allowsRequest()) {
    return {
      ok: false,
      reason: 'circuit_open',
      message: 'the circuit to the cloud is open',
      cloudUnwell: false,
      ...base,
    };
  }
  // Deadlines on the wire are epoch ms; the agent's clock is performance-based, so convert at the edge of the wire.
  const remaining = request.deadline - now();
  const waitMs = remaining - tailTypicalMs - TAIL_RESERVE_SLACK_MS;
  if (waitMs < MIN_OFFLOAD_WAIT_MS) {
    return {
      ok: false,
      reason: 'deadline_too_close',
      message: `${remaining.toFixed(1)} ms left, the local tail needs about ${tailTypicalMs.toFixed(1)} ms`,
      cloudUnwell: false,
      ...base,
    };
  }
  const span = deps.telemetry.tracer.startSpan(
    'cleave.edge.offload',
    { kind: SpanKind.CLIENT, attributes: { 'cleave.codec': request.decision.codec, 'cleave.split': candidate.id } },
    ctx,
  );
  try {
    const outcome = await offloadTail(
      nc,
      {
        id: request.id,
        prefix: deps.prefix,
        model: request.bundle.model,
        version: request.bundle.version,
        split: candidate.id,
        tensors: cut,
        codec: request.decision.codec,
        deadline: Date.now() + remaining,
        timeoutMs: waitMs,
        expectedOutputs: finals,
        ...traceHeaders(span),
      },
      now,
      deps.throttle,
    );
    span.setAttributes({
      'cleave.bytes_sent': outcome.bytesSent,
      'cleave.outcome': outcome.ok ? 'ok' : outcome.reason,
    });
    if (!outcome.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.reason });
    return outcome;
  } finally {
    span.end();
  }
}
