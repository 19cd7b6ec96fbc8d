import type { Meter, Tracer } from '@opentelemetry/api';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { type Service, Svcm } from '@nats-io/services';
import {
  bundleAnnounceWildcard,
  type DecodeLimits,
  decodeMessage,
  TAIL_QUEUE_GROUP,
  TAIL_SERVICE_NAME,
  tailWildcard,
} from '@cleave/proto';
import { type BundleReader, createBundleReader } from '@cleave/node-runtime';
import type { OrtSessionSettings } from '../tail/executor-protocol.js';
import { createOrtExecutor, type TailExecutor } from '../tail/ort-executor.js';
import type { BatchPolicy } from '../tail/tail-batcher.js';
import { createTailFiles } from '../tail/tail-files.js';
import type { WeightsContent } from '../tail/tail-files.js';
import { createTailRegistry, type TailRegistry } from '../tail/tail-registry.js';
import { createServiceTelemetry, type TelemetryCounts } from '../telemetry/service-telemetry.js';
import { createAdmission } from './admission.js';
import { createRequestHandler } from './request-handler.js';
import { createTailPrewarm, type PrewarmReport } from './tail-prewarm.js';

// @nats-io/services 3.0.0-25 pins an older @nats-io/nats-core whose types differ from ours only in a header-match
// enum; the objects are the same at run time, so the connection and messages are cast at this one boundary.
type ServicesConnection = ConstructorParameters<typeof Svcm>[0];

/** Settings of one tail replica, already validated (see resolveCloudConfig). */
export interface TailServiceSettings {
  /** Subject prefix and bucket stem. */
  readonly prefix: string;
  /** Name of this replica, sent in every reply. */
  readonly replica: string;
  /** Semver reported in $SRV.INFO. */
  readonly serviceVersion: string;
  readonly batching: BatchPolicy;
  /** Requests admitted at once across tails (loading, queued or running); past it, `overloaded`. */
  readonly maxInFlight: number;
  /** Bytes of the requests admitted at once; past it, `overloaded`. Bounds the memory pinned by received messages. */
  readonly maxInFlightBytes: number;
  /** Sum of tail ONNX bytes kept loaded (LRU), each shared weights file counted once. */
  readonly maxTailBytes: number;
  /**
   * Load and warm the tails a version's plan sends to the cloud as soon as it becomes current (and, at start, those
   * of every current version). @default true
   */
  readonly prewarm?: boolean;
  /**
   * Directory under which the replica keeps its own copy of the files of shared-weights bundles (one directory per
   * replica, removed on close). @default os.tmpdir()
   */
  readonly cacheDir?: string;
  /** How long an unknown model or unpublished version is remembered, in ms. */
  readonly negativeCacheMs: number;
  readonly decodeLimits: DecodeLimits;
  readonly ort: OrtSessionSettings;
  /** Longest a drain waits for in-flight requests before answering the rest `unavailable`, in ms. */
  readonly drainTimeoutMs: number;
}

/** Minimal structured logger (pino's shape). */
export interface ServiceLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** What a tail service needs. Only `nc`, `settings` and `logger` are required. */
export interface TailServiceDeps {
  readonly nc: NatsConnection;
  readonly settings: TailServiceSettings;
  readonly logger: ServiceLogger;
  readonly tracer?: Tracer;
  readonly meter?: Meter;
  /** Epoch ms with sub-ms precision. @default performance.timeOrigin + performance.now() */
  readonly now?: () => number;
  /** @default a reader of the bundle store under `settings.prefix` */
  readonly reader?: BundleReader;
  /** @default one onnxruntime worker thread */
  readonly executor?: TailExecutor;
}

/** Liveness and readiness, for the NATS and HTTP probes. */
export interface ServiceHealth {
  /** False only when the service stopped on its own (a required subscription failed). */
  readonly live: boolean;
  /** True when started, connected and not draining. */
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

/** A running snapshot, for logs, $SRV.STATS and tests. */
export interface TailServiceStats extends TelemetryCounts {
  readonly inFlight: number;
  readonly inFlightBytes: number;
  readonly queueDepth: number;
  readonly loadedTails: number;
  readonly loadedTailBytes: number;
}

/** What the replica holds loaded, for status and tests. */
export interface TailServiceStatus {
  /** Loaded tails, `model/version/split`. */
  readonly tails: readonly string[];
  /** Shared weights files the loaded tails read, each counted once in the budget. */
  readonly weights: readonly WeightsContent[];
  /** The last prewarm of each model. */
  readonly prewarmed: readonly PrewarmReport[];
}

/** One replica of the tail micro-service. */
export interface TailService extends AsyncDisposable {
  /** Registers the `@nats-io/services` service and its endpoint (queue group `cleave-tail`). */
  start(): Promise<void>;
  /** Stops taking work, finishes and answers everything in flight, and flushes. Idempotent. */
  drain(): Promise<void>;
  /** Drains if needed, then unloads every tail and stops the executor. Does not close `nc`. */
  close(): Promise<void>;
  health(): ServiceHealth;
  stats(): TailServiceStats;
  status(): TailServiceStatus;
  /** Resolves when no prewarm is queued or running. */
  prewarmed(): Promise<void>;
  /** The $SRV id, once started. */
  readonly id: string | undefined;
}

/** Creates a tail replica on `nc`. */
export function createTailService(deps: TailServiceDeps): TailService {
  const { nc, settings, logger } = deps;
  const now = deps.now ?? (() => performance.timeOrigin + performance.now());
  const executor = deps.executor ?? createOrtExecutor(settings.ort);
  const reader = deps.reader ?? createBundleReader(nc, { prefix: settings.prefix });
  const admission = createAdmission({ maxRequests: settings.maxInFlight, maxBytes: settings.maxInFlightBytes });
  // The gauges read the registry at collection time, after both exist.
  const telemetry = createServiceTelemetry({
    ...(deps.meter === undefined ? {} : { meter: deps.meter }),
    ...(deps.tracer === undefined ? {} : { tracer: deps.tracer }),
    gauges: {
      inFlight: () => admission.inFlight,
      queueDepth: () => tails.queueDepth,
      loadedTails: () => tails.loadedCount,
      loadedTailBytes: () => tails.loadedBytes,
    },
  });
  const onEvent = (event: string, fields: Record<string, unknown>): void =>
    logger.info({ replica: settings.replica, ...fields }, event);
  const files = createTailFiles({
    reader,
    ...(settings.cacheDir === undefined ? {} : { cacheDir: settings.cacheDir }),
    onEvent,
  });
  const tails: TailRegistry = createTailRegistry({
    reader,
    executor,
    policy: settings.batching,
    limits: { maxTailBytes: settings.maxTailBytes, negativeCacheMs: settings.negativeCacheMs },
    files,
    now,
    onBatch: (tail, batch) => telemetry.batch(tail, batch),
    onEvent,
  });
  const prewarm = createTailPrewarm({
    nc,
    prefix: settings.prefix,
    registry: tails,
    // One line per version; a warning when a tail was left to load on demand.
    onReport: (report) =>
      report.skipped.length === 0
        ? logger.info({ replica: settings.replica, ...report }, 'tails prewarmed')
        : logger.warn({ replica: settings.replica, ...report }, 'tails prewarmed'),
    onWarn: (fields, message) => logger.warn({ replica: settings.replica, ...fields }, message),
  });
  const prewarming = settings.prewarm ?? true;

  let service: Service | undefined;
  let announcements: Subscription | undefined;
  let connected = true;
  let stoppedWithError: Error | undefined;
  let draining: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  const handler = createRequestHandler({
    prefix: settings.prefix,
    replica: settings.replica,
    registry: tails,
    admission,
    telemetry,
    decodeLimits: settings.decodeLimits,
    now,
    maxPayloadBytes: () => nc.info?.max_payload,
    onReplyFailure: (error) => logger.warn({ err: (error as Error).message }, 'could not send a reply'),
  });

  async function watchConnection(): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') connected = false;
      else if (status.type === 'reconnect') connected = true;
      else if (status.type === 'close') return;
    }
  }

  async function start(): Promise<void> {
    if (service !== undefined) throw new Error('the tail service is already started');
    await files.start();
    void watchConnection().catch(() => undefined);
    // Every replica hears every announcement: a new version clears what was remembered as missing.
    announcements = nc.subscribe(bundleAnnounceWildcard(settings.prefix), {
      callback: (_err, msg) => {
        try {
          const message = decodeMessage(msg.data);
          if (message.kind === 'bundle') {
            tails.forgetFailures(message.model);
            if (prewarming) prewarm.request(message.model, message.version);
          }
        } catch {
          // an announcement nobody can read is ignored; publishers validate their own
        }
      },
    });
    service = await new Svcm(nc as unknown as ServicesConnection).add({
      name: TAIL_SERVICE_NAME,
      version: settings.serviceVersion,
      description: 'Cleave tail inference: runs the cloud half of split models with dynamic batching',
      queue: TAIL_QUEUE_GROUP,
      metadata: { replica: settings.replica, prefix: settings.prefix },
      statsHandler: () => Promise.resolve(stats()),
    });
    service.addEndpoint('tail', {
      subject: tailWildcard(settings.prefix),
      queue: TAIL_QUEUE_GROUP,
      metadata: { subject: `${settings.prefix}.tail.<model>.<version>.<split>` },
      handler: (err, msg) => {
        if (err === null) handler(msg as unknown as Msg);
      },
    });
    void service.stopped.then((result) => {
      if (result instanceof Error && draining === undefined) {
        stoppedWithError = result;
        logger.error({ err: result.message }, 'tail service stopped');
      }
    });
    logger.info(
      { replica: settings.replica, id: service.info().id, subject: tailWildcard(settings.prefix) },
      'tail service started',
    );
    if (prewarming) prewarm.start();
  }

  function drain(): Promise<void> {
    draining ??= (async () => {
      // Unsubscribing (a NATS drain) hands new requests to the other replicas; what already arrived is still served.
      await service?.stop();
      tails.flush();
      if (admission.inFlight > 0) {
        const finished = admission.idle();
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), settings.drainTimeoutMs);
        });
        if ((await Promise.race([finished, timedOut])) === 'timeout') {
          logger.warn(
            { inFlight: admission.inFlight },
            'drain timed out; unloading tails answers the rest unavailable',
          );
        }
        clearTimeout(timer);
      }
      if (!nc.isClosed()) await nc.flush().catch(() => undefined);
      logger.info({ replica: settings.replica }, 'tail service drained');
    })();
    return draining;
  }

  function stats(): TailServiceStats {
    return {
      ...telemetry.counts(),
      inFlight: admission.inFlight,
      inFlightBytes: admission.inFlightBytes,
      queueDepth: tails.queueDepth,
      loadedTails: tails.loadedCount,
      loadedTailBytes: tails.loadedBytes,
    };
  }

  function health(): ServiceHealth {
    const reasons: string[] = [];
    if (service === undefined) reasons.push('not started');
    if (!connected || nc.isClosed()) reasons.push('not connected to NATS');
    if (draining !== undefined) reasons.push('draining');
    if (stoppedWithError !== undefined) reasons.push(`stopped: ${stoppedWithError.message}`);
    return { live: stoppedWithError === undefined && !nc.isClosed(), ready: reasons.length === 0, reasons };
  }

  async function close(): Promise<void> {
    closing ??= (async () => {
      await prewarm.close();
      await drain();
      announcements?.unsubscribe();
      await tails.close();
      await executor.close();
    })();
    return closing;
  }

  return {
    start,
    drain,
    close,
    health,
    stats,
    status() {
      const loaded = tails.loaded();
      return { tails: loaded.tails, weights: loaded.weights, prewarmed: prewarm.reports };
    },
    prewarmed: () => prewarm.idle(),
    get id() {
      return service?.info().id;
    },
    [Symbol.asyncDispose]: close,
  };
}
