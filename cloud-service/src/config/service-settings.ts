import type { TailServiceSettings } from '../service/tail-service.js';
import type { CloudConfig } from './cloud-config-schema.js';

/** The tail service's settings from a validated configuration. */
export function tailServiceSettings(config: CloudConfig, serviceVersion: string): TailServiceSettings {
  return Object.freeze({
    prefix: config.prefix,
    replica: config.replica,
    serviceVersion,
    batching: config.batching,
    maxInFlight: config.limits.maxInFlight,
    maxInFlightBytes: config.limits.maxInFlightBytes,
    maxElementsPerRequest: config.limits.maxElementsPerRequest,
    maxTailBytes: config.limits.tailMemory,
    negativeCacheMs: config.limits.negativeCacheMs,
    decodeLimits: { maxElements: config.limits.maxElements },
    ort: {
      intraOpNumThreads: config.onnx.intraOpThreads,
      interOpNumThreads: config.onnx.interOpThreads,
      allowSpinning: config.onnx.allowSpinning,
      memoryArena: config.onnx.memoryArena,
    },
    drainTimeoutMs: config.drain.timeoutMs,
    prewarm: config.prewarm.enabled,
    bundleTrust: config.bundles,
    ...(config.cache.dir === undefined ? {} : { cacheDir: config.cache.dir }),
  });
}
