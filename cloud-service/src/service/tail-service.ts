import type { Meter, Tracer } from '@opentelemetry/api';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { type Endpoint, type Service, Svcm } from '@nats-io/services';
import {
  bundleAnnounceWildcard,
  type DecodeLimits,
  decodeMessage,
  TAIL_QUEUE_GROUP,
  TAIL_SERVICE_NAME,
  tailWildcard,
} from '@cleave/proto';
import {
  type BundleReader,
  type BundleTrust,
  bundleTrustNotice,
  createBundleReader,
  verifyManifest,
} from '@cleave/node-runtime';
import type { OrtSessionSettings } from '../tail/executor-protocol.js';
import { createOrtExecutor, type TailExecutor } from '../tail/ort-executor.js';
import type { BatchPolicy } from '../tail/tail-batcher.js';
import { createTailFiles } from '../tail/tail-files.js';
import type { WeightsContent } from '../tail/tail-files.js';
import { createTailRegistry, type TailRegistry } from '../tail/tail-registry.js';
import { createServiceTelemetry, type TelemetryCounts } from '../telemetry/service-telemetry.js';
import { createAdmission } from './admission.js';
import { createMemoryReclaimer } from './memory-reclaimer.js';
import { createRequestHandler, type TailRequestMsg } from './request-handler.js';
import { createTailPrewarm, type PrewarmReport } from './tail-prewarm.js';

// @nats-io/services 3.0.0-25 pins an older @nats-io/nats-core whose types differ from ours only in a header-match
// enum; the objects are the same at run time, so the connection and messages are cast at this one boundary.
type ServicesConnection = ConstructorParameters<typeof Svcm>[0];

/** Default of {@link TailServiceSettings.maxElementsPerRequest}: 64 MiB of float32. */
const DEFAULT_MAX_ELEMENTS_PER_REQUEST = 16_777_216;

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
  /**
   * Bytes the requests admitted at once hold: their messages plus what decoding their tensors allocates (an int8
   * element becomes a 4-byte float). Past it, `overloaded`; a single request above it, `too_large`.
   */
  readonly maxInFlightBytes: number;
  /**
   * Most elements across one request's tensors, every sample counted; past it, `too_large` before decoding.
   * @default 16_777_216
   */
  readonly maxElementsPerRequest?: number;
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
  /** Whose bundles the replica loads (`bundles` in the config): every manifest is verified against it. */
  readonly bundleTrust: BundleTrust;
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
    replica: settings.replica,
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
    verify: (manifest, where) => void verifyManifest(manifest, settings.bundleTrust, where),
    onRefused: (fields, message) => logger.warn({ replica: settings.replica, ...fields }, message),
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
    maxElementsPerRequest: settings.maxElementsPerRequest ?? DEFAULT_MAX_ELEMENTS_PER_REQUEST,
    maxSamplesPerRun: settings.batching.maxBatchSize,
    now,
    maxPayloadBytes: () => nc.info?.max_payload,
    onReplyFailure: (error) => logger.warn({ err: (error as Error).message }, 'could not send a reply'),
    // Half of the external garbage V8 itself lets pile up before it collects, and at most ten GCs a second.
    reclaimer: createMemoryReclaimer({
      thresholdBytes: 32 * 1024 ** 2,
      idleMinBytes: 4 * 1024 ** 2,
      majorMinBytes: 1024 ** 2,
      minIntervalMs: 100,
    }),
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
    const trust = bundleTrustNotice(settings.bundleTrust);
    logger[trust.level]({ replica: settings.replica, ...trust.fields }, trust.message);
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
      statsHandler: (endpoint) => {
        countEndpointErrors(endpoint, telemetry.counts().failed);
        return Promise.resolve(stats());
      },
    });
    service.addEndpoint('tail', {
      subject: tailWildcard(settings.prefix),
      queue: TAIL_QUEUE_GROUP,
      metadata: { subject: `${settings.prefix}.tail.<model>.<version>.<split>` },
      handler: (err, msg) => {
        if (err === null) handler(msg as unknown as TailRequestMsg);
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

/**
 * Writes the error replies sent so far into the endpoint's `num_errors`, just before `$SRV.STATS` reports it.
 * @nats-io/services 3.0.0-25 counts an error only when the handler throws synchronously (then it answers with an
 * empty body), and `respondError` counts nothing; this handler answers asynchronously, with a msgpack error body
 * clients parse. So the count is the replica's own, reached through the endpoint's stats object (not in the
 * library's types): if a later version moves it, the count stays 0 and the $SRV test says so.
 */
function countEndpointErrors(endpoint: Endpoint, failed: Readonly<Partial<Record<string, number>>>): void {
  const counters = (endpoint as Endpoint & { stats?: { num_errors?: unknown } }).stats;
  if (typeof counters?.num_errors !== 'number') return;
  counters.num_errors = Object.values(failed).reduce((sum: number, n) => sum + (n ?? 0), 0);
}
