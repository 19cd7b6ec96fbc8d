// What the agent believes about the cloud: the circuit breaker, bundle versions the cloud recently refused, and
// the background probe that closes the circuit again. The probe is a real tail request (zeros, batch 1) for a
// split some model is using, so "recovered" means that exact path works again, not just that NATS is up.
import type { NatsConnection } from '@nats-io/transport-node';
import type { Decision } from '../adapt/model-controller.js';
import type { AgentLogger } from '../bundle/bundle-manager.js';
import type { LoadedBundle } from '../bundle/loaded-bundle.js';
import type { EdgeConfig } from '../config/edge-config-schema.js';
import { BreakerState, type CircuitBreaker, createCircuitBreaker } from '../runtime/circuit-breaker.js';
import { finalOutputs } from '../runtime/final-outputs.js';
import { type FallbackReason, type OffloadOutcome, offloadTail } from '../runtime/offload-client.js';
import { zeroTensor } from '../runtime/tensor-io.js';

/** What {@link createCloudHealth} needs. */
export interface CloudHealthDeps {
  readonly config: EdgeConfig;
  readonly logger: AgentLogger;
  readonly now: () => number;
  readonly nats: () => NatsConnection | undefined;
  /** A (bundle, decision) whose split offloads, to probe with; undefined when no model offloads. */
  readonly probeTarget: () => { bundle: LoadedBundle; decision: Decision } | undefined;
  /** A successful probe is a transfer like any other. */
  readonly onProbe: (outcome: OffloadOutcome) => void;
}

/** The agent's view of the cloud. */
export interface CloudHealth extends AsyncDisposable {
  readonly breaker: CircuitBreaker;
  /** Why the cloud must not be asked for (model, version) now, if it must not. */
  blocked(model: string, version: string): FallbackReason | undefined;
  /** Books an offload outcome: breaker, and refusals of a version the cloud does not have. */
  record(model: string, version: string, outcome: OffloadOutcome): void;
  /** Follows the connection: a disconnect opens the circuit, a reconnect probes at once. */
  watch(nc: NatsConnection): void;
  start(): void;
  close(): Promise<void>;
  readonly connected: boolean;
}

/** Creates the breaker and its probe loop (stopped until {@link CloudHealth.start}). */
export function createCloudHealth(deps: CloudHealthDeps): CloudHealth {
  const { config, logger, now } = deps;
  const refusedUntil = new Map<string, number>();
  const breaker = createCircuitBreaker({
    failureThreshold: config.breaker.failureThreshold,
    probeIntervalMs: config.breaker.probeIntervalMs,
    now,
    onTransition: (t) => {
      logger.info({ event: 'circuit', from: t.from, to: t.to, reason: t.reason }, 'circuit breaker');
      followState();
    },
  });
  let connected = false;
  let started = false;
  let timer: NodeJS.Timeout | undefined;

  // Probes run only while the circuit is open, so the probe timer runs only then: a timer ticking 10 times a
  // second on a healthy agent woke it for nothing.
  function followState(): void {
    if (started && breaker.state === BreakerState.Open) {
      timer ??= setInterval(tick, Math.min(100, config.breaker.probeIntervalMs));
      timer.unref();
    } else {
      clearInterval(timer);
      timer = undefined;
    }
  }
  let probing: Promise<void> | undefined;
  let seq = 0;

  async function probe(): Promise<void> {
    const nc = deps.nats();
    const target = deps.probeTarget();
    if (nc === undefined || target === undefined) return;
    const { bundle, decision } = target;
    const candidate = bundle.candidate(decision.split);
    const specs = candidate.kind === 'cloud-only' ? bundle.manifest.model.inputs : candidate.cutTensors;
    const timeoutMs = config.breaker.probeTimeoutMs;
    const outcome = await offloadTail(
      nc,
      {
        id: `${config.agentId}-probe-${(seq++).toString(36)}`,
        prefix: config.prefix,
        model: bundle.model,
        version: bundle.version,
        split: candidate.id,
        tensors: specs.map((spec) => zeroTensor(spec)),
        codec: decision.codec,
        deadline: Date.now() + timeoutMs,
        timeoutMs,
        expectedOutputs: finalOutputs(bundle.manifest),
      },
      now,
    );
    if (outcome.ok) {
      deps.onProbe(outcome);
      breaker.onProbeSuccess();
    } else if (!outcome.cloudUnwell) {
      // The cloud answered, only not for this bundle: it is reachable, and requests will find out the rest.
      breaker.onProbeSuccess();
    }
  }

  function tick(): void {
    if (probing !== undefined || !breaker.takeProbeSlot()) return;
    probing = probe()
      .catch(() => undefined)
      .finally(() => (probing = undefined));
  }

  async function follow(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        connected = false;
        breaker.trip('disconnected from NATS');
      } else if (status.type === 'reconnect') {
        connected = true;
        breaker.expediteProbe();
        tick();
      } else if (status.type === 'close') {
        connected = false;
        return;
      }
    }
  }

  const close = async (): Promise<void> => {
    started = false;
    followState();
    await probing;
  };
  return {
    breaker,
    blocked(model, version) {
      const until = refusedUntil.get(`${model}@${version}`);
      return until !== undefined && now() < until ? 'refused_recently' : undefined;
    },
    record(model, version, outcome) {
      if (outcome.ok) {
        breaker.onSuccess();
        return;
      }
      if (outcome.cloudUnwell) breaker.onFailure(outcome.reason);
      if (outcome.reason === 'version_mismatch' || outcome.reason === 'unknown_model') {
        refusedUntil.set(`${model}@${version}`, now() + config.breaker.refusalCooldownMs);
      }
    },
    watch(nc) {
      connected = !nc.isClosed();
      void follow(nc).catch(() => undefined);
    },
    start() {
      started = true;
      followState();
    },
    close,
    get connected() {
      return connected;
    },
    [Symbol.asyncDispose]: close,
  };
}
