// The edge agent: bundles, controllers, the cloud's health, the link, the battery, heartbeats and the two local
// APIs, started and stopped in order. It receives its NATS connection, logger, clock and telemetry; only the cli
// touches the process (signals, environment, the OpenTelemetry SDK).
import type { Meter, Tracer } from '@opentelemetry/api';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Heartbeat } from '@cleave/proto';
import { createBandwidthEstimator } from './adapt/bandwidth-estimator.js';
import { createThrottleClock } from './adapt/cpu-throttle.js';
import { type BatteryMonitor, createBatteryMonitor } from './adapt/battery-monitor.js';
import { createLinkProber } from './adapt/link-prober.js';
import { createCloudHealth } from './agent/cloud-health.js';
import { createControlLoop } from './agent/control-loop.js';
import type { AgentHealth, AgentStatus, InferOptions, InferService, ModelStatus } from './agent-types.js';
import { createHttpApp } from './api/http-app.js';
import { type HttpServer, type SnapshotMetrics, startHttpServer } from '@cleave/node-runtime';
import { type NatsApi, serveNatsApi } from './api/nats-api.js';
import { createBundleCache } from './bundle/bundle-cache.js';
import { type AgentLogger, createBundleManager } from './bundle/bundle-manager.js';
import type { LoadedBundle } from './bundle/loaded-bundle.js';
import type { EdgeConfig } from './config/edge-config-schema.js';
import { EdgeAgentError, EdgeErrorCode, isEdgeAgentError } from './edge-agent-error.js';
import { type PolicyWatch, watchPolicies } from './policy/policy-watch.js';
import { type InferResult, runPipeline } from './runtime/inference-pipeline.js';
import { checkInputs, type RequestTensor } from './runtime/input-validation.js';
import type { OffloadOutcome } from './runtime/offload-client.js';
import { edgeStatusFamilies } from './telemetry/edge-status-metrics.js';
import { createEdgeTelemetry, EDGE_TELEMETRY_SCOPE } from './telemetry/edge-telemetry.js';
import { buildHeartbeat } from './telemetry/heartbeat-builder.js';
import { createHeartbeatPublisher } from './telemetry/heartbeat-publisher.js';
import { createRequestStats, type RequestStats } from './telemetry/request-stats.js';

/** What {@link createEdgeAgent} needs. Only `config` and `logger` are required. */
export interface EdgeAgentDeps {
  readonly config: EdgeConfig;
  /** A connection, one being established (an agent starts offline and attaches later), or none: cache only. */
  readonly nc?: NatsConnection | Promise<NatsConnection>;
  readonly logger: AgentLogger;
  /** Monotonic milliseconds. @default performance.now */
  readonly now?: () => number;
  readonly tracer?: Tracer;
  readonly meter?: Meter;
  /** Prometheus text for GET /metrics. */
  readonly metrics?: () => Promise<string>;
  /** Where the status gauges (split, link estimates, battery, breaker) are registered for each scrape. */
  readonly snapshots?: SnapshotMetrics;
}

/** A running edge agent. */
export interface EdgeAgent extends InferService, AsyncDisposable {
  /** Serves from the cache at once, then follows NATS when the connection is there. */
  start(): Promise<void>;
  /** Refuses new requests (503 `draining`), finishes those in flight, stops the NATS API. Idempotent. */
  drain(): Promise<void>;
  /** Drains, then stops everything. Does not close the NATS connection. */
  close(): Promise<void>;
  /** Base URL of the HTTP API, once listening. */
  readonly httpUrl: string | undefined;
  /** Resolves when `model` serves `version`. */
  whenServing(model: string, version: string): Promise<void>;
}

/** Creates a stopped agent. */
export function createEdgeAgent(deps: EdgeAgentDeps): EdgeAgent {
  const { config, logger } = deps;
  const now = deps.now ?? (() => performance.now());
  const models = config.models.map((m) => m.id);
  const telemetry = createEdgeTelemetry({
    agentId: config.agentId,
    models,
    ...(deps.tracer === undefined ? {} : { tracer: deps.tracer }),
    ...(deps.meter === undefined ? {} : { meter: deps.meter }),
  });
  const stats = new Map<string, RequestStats>(models.map((m) => [m, createRequestStats()]));
  const estimator = createBandwidthEstimator({ window: config.link.window, maxAgeMs: config.link.maxAgeMs });
  // A CPU quota's waits are not link time: offloads and probes count without them.
  const throttle = createThrottleClock();
  let nc: NatsConnection | undefined;
  let lastError: string | undefined;
  let http: HttpServer | undefined;
  let natsApi: NatsApi | undefined;
  let policies: PolicyWatch | undefined;
  let battery: BatteryMonitor | undefined;
  let controlTimer: NodeJS.Timeout | undefined;
  let inFlight = 0;
  let seq = 0;
  let draining: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  let closed = false;
  const idle: (() => void)[] = [];
  const nats = () => nc;
  // The time goes with the message: a heartbeat's last error may be minutes old, and the console should say so.
  const noteError = (message: string) => {
    lastError = `${new Date().toISOString()} ${message}`;
  };

  const control = createControlLoop({
    config,
    logger,
    estimator,
    now,
    // Options whose messages the connected server would refuse are never chosen.
    maxPayloadBytes: () => (nc === undefined || nc.isClosed() ? undefined : nc.info?.max_payload),
    onSwitch: (e) => {
      telemetry.switched(e.model);
      telemetry.serving(e.to);
    },
  });
  const bundles = createBundleManager({
    models,
    prefix: config.prefix,
    cache: createBundleCache(config.cacheDir, config.bundles),
    intraOpThreads: config.onnx.intraOpThreads,
    logger,
    now,
    warm: (bundle) => bundle.prepare(control.previewSplit(bundle)),
    onSwap: (bundle) => control.onBundle(bundle),
    onError: noteError,
    // A download takes a share of the live uplink (bytes/s), re-read for every chunk; a floor before any estimate.
    // A download keeps the probes at the active pace, as requests do: its pace follows the estimate.
    maxDownloadBytesPerSecond: () => {
      prober.active();
      return Math.max(64 * 1024, ((estimator.estimate(now()).mbps ?? 0) * 1e6 * config.bundles.downloadShare) / 8);
    },
  });
  const cloud = createCloudHealth({
    config,
    logger,
    now,
    nats,
    probeTarget: () => {
      for (const model of models) {
        const bundle = bundles.current(model);
        if (bundle === undefined) continue;
        const decision = control.decisionFor(bundle);
        if (decision.kind !== 'edge-only') return { bundle, decision };
      }
      return undefined;
    },
    onProbe: (outcome) => learnLink(outcome),
  });
  const prober = createLinkProber({
    subject: `${config.prefix}.probe.${config.agentId}`,
    estimator,
    now,
    throttle,
    nats,
    staleMs: config.link.probeStaleMs,
    targetMs: config.link.probeTargetMs,
    minBytes: config.link.probeMinBytes,
    maxBytes: config.link.probeMaxBytes,
    timeoutMs: config.link.probeTimeoutMs,
    initialMbps: config.control.initialMbps,
    // Enough confirmations to turn the median (a majority of its window) within a sample's lifetime, no more.
    confirmations: { probes: Math.ceil(config.link.window / 2), perMs: config.link.maxAgeMs },
    idle: { afterMs: config.link.probeIdleAfterMs, maxStaleMs: config.link.probeIdleMaxMs },
    onSample: (sample, before) => onLinkSample(sample, before),
  });
  const heartbeats = createHeartbeatPublisher({
    prefix: config.prefix,
    agentId: config.agentId,
    intervalMs: config.heartbeatIntervalMs,
    nats,
    build: heartbeat,
    onError: noteError,
    onSlowWrite: (ms) =>
      logger.warn({ event: 'heartbeat', kvWriteMs: Math.round(ms) }, 'heartbeat KV write slower than its interval'),
  });

  // A transfer feeds the estimate. One far from the current median may be the first sign of a new link: confirm
  // it with a probe now instead of waiting for the next offloads, so the median can turn within a second.
  function learnLink(outcome: OffloadOutcome): void {
    if (!outcome.ok) return;
    const before = estimator.estimate(now()).mbps;
    const sample = estimator.addTransfer({
      bytes: outcome.bytesSent + outcome.bytesReceived,
      elapsedMs: outcome.elapsedMs,
      serverMs: outcome.queueMs + outcome.processingMs,
      ...(outcome.throttledMs === undefined ? {} : { throttledMs: outcome.throttledMs }),
      at: now(),
    });
    if (sample !== undefined) onLinkSample(sample, before);
  }

  // A sample whose throttle correction is as large as the transfer time it leaves is no surprise worth a probe:
  // its value says more about the correction than the link. On a CPU-starved device the throttled time can cover
  // a whole exchange (the quota went to other threads meanwhile), and such samples set off most confirmations.
  function onLinkSample(sample: number, before: number | undefined): void {
    const surprising = before !== undefined && Math.abs(Math.log(sample / before)) > Math.LN2;
    if (surprising && estimator.estimate(now()).latestResolved) prober.probeSoon(sample > before ? 'up' : 'down');
    control.tick();
  }

  function onOffload(bundle: LoadedBundle, _decision: unknown, outcome: OffloadOutcome): void {
    cloud.record(bundle.model, bundle.version, outcome);
    if (outcome.ok) learnLink(outcome);
    else {
      noteError(`offload of ${bundle.model}@${bundle.version} fell back: ${outcome.reason}: ${outcome.message}`);
      if (outcome.reason === 'version_mismatch') bundles.refresh(bundle.model);
    }
  }

  async function infer(
    model: string,
    inputs: Readonly<Record<string, RequestTensor>>,
    options: InferOptions = {},
  ): Promise<InferResult> {
    const startedAt = now();
    if (draining !== undefined || closed) {
      throw new EdgeAgentError(EdgeErrorCode.Draining, 'the agent is shutting down and takes no new requests');
    }
    const lease = bundles.acquire(model);
    prober.active();
    inFlight += 1;
    try {
      const bundle = lease.bundle;
      const checked = checkInputs(bundle.manifest.model.inputs, inputs, { maxElements: config.maxElements });
      const deadlineMs = options.deadlineMs ?? control.deadlineMs(model);
      const result = await runPipeline(
        {
          prefix: config.prefix,
          telemetry,
          breaker: cloud.breaker,
          now,
          throttle,
          nats,
          blocked: (model, version) => cloud.blocked(model, version),
          onOffload,
        },
        {
          id: `${config.agentId}-${(seq++).toString(36)}`,
          bundle,
          decision: control.decisionFor(bundle),
          inputs: checked,
          deadline: startedAt + deadlineMs,
          startedAt,
          ...(options.traceparent === undefined ? {} : { traceparent: options.traceparent }),
          ...(options.tracestate === undefined ? {} : { tracestate: options.tracestate }),
        },
      );
      control.observe(bundle, result);
      const offloaded = result.ranOn === 'cloud' || result.timings.wastedMs > 0 || result.timings.encodeMs > 0;
      stats.get(model)?.record({ ranOn: result.ranOn, exit: result.exit, offloaded, totalMs: result.timings.totalMs });
      telemetry.answered(result);
      return result;
    } catch (error) {
      stats.get(model)?.recordError();
      if (!isEdgeAgentError(error)) {
        logger.error({ model, err: (error as Error).message }, 'request failed inside the agent');
        noteError(`request on ${model} failed: ${(error as Error).message}`);
      }
      throw error;
    } finally {
      lease.release();
      inFlight -= 1;
      if (inFlight === 0) for (const resolve of idle.splice(0)) resolve();
    }
  }

  function heartbeat(): Heartbeat {
    return buildHeartbeat({
      agentId: config.agentId,
      intervalMs: config.heartbeatIntervalMs,
      link: estimator.estimate(now()),
      power: control.power(),
      models: models.map((model) => {
        const { decision, switches } = control.status(model);
        return { decision, switches, window: stats.get(model)!.takeWindow() };
      }),
      lastError,
      breaker: cloud.breaker.state,
      downloads: bundles.downloads(),
    });
  }

  function health(): AgentHealth {
    const reasons = models.filter((m) => bundles.current(m) === undefined).map((m) => `model ${m} has no bundle yet`);
    if (draining !== undefined) reasons.push('draining');
    if (closed) reasons.push('closed');
    return { live: !closed, ready: reasons.length === 0, reasons };
  }

  function modelStatus(model: string): ModelStatus | undefined {
    if (!models.includes(model)) return undefined;
    const { decision, settings, switches, switchCount, liveCosts } = control.status(model);
    return {
      model,
      version: bundles.current(model)?.version ?? null,
      decision,
      settings,
      totals: stats.get(model)!.totals(),
      switches,
      switchCount,
      liveCosts,
    };
  }

  function status(): AgentStatus {
    const link = estimator.estimate(now());
    return {
      agentId: config.agentId,
      health: health(),
      connected: cloud.connected,
      breaker: cloud.breaker.state,
      link: {
        mbps: link.mbps ?? null,
        latestMbps: link.latestMbps ?? null,
        rttMs: link.rttMs ?? null,
        baseRttMs: link.baseRttMs ?? null,
        samples: link.samples,
        probes: prober.probes,
      },
      power: control.power(),
      batteryObjective: control.batteryObjective(),
      lastError: lastError ?? null,
      models: models.map((m) => modelStatus(m)!),
    };
  }

  const service: InferService = { infer, health, status, modelStatus };
  const unregisterStatusMetrics = deps.snapshots?.register(EDGE_TELEMETRY_SCOPE, () => edgeStatusFamilies(status()));

  function attach(connection: NatsConnection): void {
    if (closed) return;
    nc = connection;
    cloud.watch(connection);
    bundles.attach(connection);
    policies = watchPolicies({
      nc: connection,
      prefix: config.prefix,
      agentId: config.agentId,
      onChange: (layers) => {
        logger.info({ event: 'policy', fleet: layers.fleet ?? null, agent: layers.agent ?? null }, 'policy applied');
        control.setPolicies(layers);
      },
      onError: (message) => {
        logger.warn({ event: 'policy' }, message);
        noteError(message);
      },
    });
    if (config.natsApi.enabled) {
      natsApi = serveNatsApi({
        nc: connection,
        prefix: config.prefix,
        agentId: config.agentId,
        models,
        service,
        maxBodyBytes: config.maxBodyBytes,
        onRefused: (e) => telemetry.refused(e.code),
      });
    }
    prober.start();
    heartbeats.start();
    void heartbeats.beat();
    // The server's max_payload is known now: decisions made offline are checked against it at once.
    control.tick();
  }

  async function start(): Promise<void> {
    await bundles.loadFromCache();
    battery = createBatteryMonitor({
      path: config.battery.path,
      pollMs: config.battery.pollMs,
      onChange: (state) => {
        logger.info({ event: 'power', ...state }, 'power state changed');
        control.setPower(state);
      },
    });
    await battery.start();
    if (config.http.enabled) {
      const app = createHttpApp({
        service,
        maxBodyBytes: config.maxBodyBytes,
        ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }),
        onRefused: (e) => telemetry.refused(e.code),
      });
      http = await startHttpServer(app, { host: config.http.host, port: config.http.port });
      logger.info({ url: http.url }, 'local HTTP API listening');
    }
    controlTimer = setInterval(() => control.tick(), config.control.tickMs);
    controlTimer.unref();
    cloud.start();
    if (deps.nc !== undefined) {
      const failed = (error: unknown) => {
        noteError(`NATS connection failed: ${(error as Error).message}`);
        logger.error({ err: (error as Error).message }, 'NATS connection failed; serving from the cache only');
      };
      void Promise.resolve(deps.nc).then((connection) => {
        try {
          attach(connection);
        } catch (error) {
          failed(error);
        }
      }, failed);
    }
  }

  function drain(): Promise<void> {
    draining ??= (async () => {
      const drained = inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idle.push(resolve));
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>(
        (resolve) => (timer = setTimeout(() => resolve('timeout'), config.drain.timeoutMs)),
      );
      if ((await Promise.race([drained, timeout])) === 'timeout') {
        logger.warn({ inFlight }, 'drain timed out with requests still in flight');
      }
      clearTimeout(timer);
      await natsApi?.stop();
      await heartbeats.beat().catch(() => undefined);
    })();
    return draining;
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      await drain();
      closed = true;
      unregisterStatusMetrics?.();
      clearInterval(controlTimer);
      policies?.stop();
      await Promise.allSettled([prober.close(), cloud.close(), heartbeats.close(), battery?.close(), http?.close()]);
      await bundles.close();
      logger.info({}, 'edge agent stopped');
    })();
    return closing;
  }

  return {
    ...service,
    start,
    drain,
    close,
    get httpUrl() {
      return http?.url;
    },
    whenServing: (model, version) => bundles.whenServing(model, version),
    [Symbol.asyncDispose]: close,
  };
}
