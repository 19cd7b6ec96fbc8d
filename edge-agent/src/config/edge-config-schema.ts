import { z } from 'zod';
import {
  bundleTrustFields,
  byteSize,
  CODECS,
  CodecSchema,
  configToken as token,
  type CrossFieldProblem,
  natsCrossFieldProblems,
  natsSettingsObject,
  ObjectiveModeSchema,
  plainRecord as record,
} from '@cleave/proto';

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const fraction = z.number().min(0).max(1);
const path = z.string().min(1);

/** One model the agent serves. */
export const ModelConfigSchema = z.strictObject({
  id: token,
  /**
   * What the controller optimises: `auto` follows the battery (latency on mains, energy as it runs low).
   * @default 'auto'
   */
  objective: ObjectiveModeSchema.default('auto'),
  /** Pin this split candidate instead of following the plan table (exits and fallback still apply). */
  pin: token.optional(),
  /** Force this codec for the cut tensor instead of the plan's. */
  codec: CodecSchema.optional(),
});

/** Schema of the edge agent configuration (YAML file, env and flags merged). Unknown keys are errors. */
export const EdgeConfigSchema = z.strictObject({
  /** This agent's id: a subject token, the heartbeat key and part of the local NATS subject. */
  agentId: token,
  prefix: token.default('cleave'),
  nats: natsSettingsObject('cleave-edge')
    .extend({
      /** Pause between reconnect attempts; attempts never stop. */
      reconnectWaitMs: positiveInt.max(60_000).default(500),
    })
    .prefault({}),
  models: z.array(ModelConfigSchema).min(1, 'list at least one model to serve'),
  /** Fetched bundles and the last known current version of each model, so a restart offline still serves. */
  cacheDir: path.default('/var/lib/cleave/edge'),
  bundles: z
    .strictObject({
      /**
       * Share of the live uplink estimate a bundle download may use (at least 64 KiB/s, the floor also used before
       * the first estimate), so heartbeats and offloads keep headroom while a new version rolls out.
       */
      downloadShare: z.number().gt(0).max(1).default(0.5),
      /** Whose bundles the agent loads: signed by one of these keys, unless `allowUnsigned` (development). */
      ...bundleTrustFields,
    })
    .prefault({}),
  http: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().min(1).default('127.0.0.1'),
      port: nonNegativeInt.max(65535).default(8470),
    })
    .prefault({}),
  /** The same inference API on NATS, `{prefix}.agent.{agentId}.infer.{model}`. */
  natsApi: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
  /** Largest request body on either API. */
  maxBodyBytes: byteSize.default(16 * 1024 ** 2),
  /** Most elements in one input tensor. */
  maxElements: positiveInt.default(16_777_216),
  policy: z
    .strictObject({
      /** Default per-request deadline; a request may ask for its own. */
      deadlineMs: positiveInt.max(600_000).default(500),
      /** Codecs allowed on the wire, preferred first (used when a split is pinned, or the plan's is not allowed). */
      codecs: z
        .array(CodecSchema)
        .min(1)
        .default([...CODECS]),
      /** Base accuracy budget of the exits, in points; default: the bundle's calibrated operating point. */
      budgetPoints: z.number().min(0).max(100).optional(),
      /** Stay this many points above the bundle's accuracy floor on the calibrated curve (calibration drift). */
      floorMarginPoints: z.number().min(0).max(100).default(0.5),
    })
    .prefault({}),
  battery: z
    .strictObject({
      /** Linux power-supply class directory; each entry has `type`, `capacity`, `status` or `online`. */
      path: path.default('/sys/class/power_supply'),
      pollMs: positiveInt.default(5000),
      /** Below this level (discharging) the objective becomes `balanced`. */
      balancedBelow: fraction.default(0.5),
      /** Below this level (discharging) the objective becomes `energy`. */
      energyBelow: fraction.default(0.2),
      /** A tier is left upwards only this far above its threshold, so 49% ↔ 50% does not flap. */
      hysteresis: fraction.default(0.03),
    })
    .prefault({}),
  control: z
    .strictObject({
      /** A new split must stay the best this long before the agent switches. */
      holdMs: nonNegativeInt.default(300),
      /** Bandwidth must leave the current plan range by this factor (0.2 = 20%) before a switch is considered. */
      bandMargin: z.number().min(0).max(10).default(0.2),
      /** Bandwidth assumed until the first measurement. */
      initialMbps: z.number().positive().default(10),
      tickMs: positiveInt.default(100),
      /**
       * Live re-costing: re-rank the candidates from measured head, tail, cloud queue and exit rate. Off by default
       * until its end-to-end tests (CPU quota halved, queue grown, exit rate dropped) exist.
       */
      live: z
        .strictObject({
          enabled: z.boolean().default(false),
          /** Samples an estimate needs before it replaces the profile. */
          minSamples: positiveInt.max(1000).default(5),
          /** EWMA weight of the newest sample. */
          alpha: z.number().gt(0).max(1).default(0.1),
          /** A candidate's own estimate older than this gives way to its profile scaled by the live ratio. */
          staleMs: positiveInt.default(10_000),
          /** A new option must beat the current one's estimate by this fraction (0.1 = 10%)... */
          margin: z.number().min(0).max(10).default(0.1),
          /** ...for this long, and the current option must have served this long, before a switch. */
          dwellMs: nonNegativeInt.default(500),
        })
        .prefault({}),
    })
    .prefault({}),
  link: z
    .strictObject({
      /** Transfers in the median window of the bandwidth estimate. */
      window: positiveInt.max(64).default(5),
      /** Transfers older than this leave the window. */
      maxAgeMs: positiveInt.default(3000),
      /** Probe when a request has gone this long without any transfer measured. */
      probeStaleMs: positiveInt.default(500),
      /** Size probes to take about this long at the last measured bandwidth. */
      probeTargetMs: z.number().positive().default(10),
      probeMinBytes: positiveInt.default(2048),
      probeMaxBytes: positiveInt.max(4 * 1024 ** 2).default(65_536),
      probeTimeoutMs: positiveInt.default(2000),
      /**
       * While no request waits on a measurement (none came, or each measured the link by offloading), probe after
       * this much quiet, then at doubling intervals.
       */
      probeIdleAfterMs: positiveInt.default(5000),
      /** The longest the link goes unprobed. */
      probeIdleMaxMs: positiveInt.default(30_000),
    })
    .prefault({}),
  breaker: z
    .strictObject({
      /** Consecutive cloud failures that open the circuit. */
      failureThreshold: positiveInt.default(3),
      /** While open, probe the cloud this often. */
      probeIntervalMs: positiveInt.default(1000),
      probeTimeoutMs: positiveInt.default(1000),
      /** After `version_mismatch` or `unknown_model`, run that bundle locally this long before asking again. */
      refusalCooldownMs: nonNegativeInt.default(5000),
    })
    .prefault({}),
  heartbeatIntervalMs: positiveInt.min(100).default(5000),
  onnx: z.strictObject({ intraOpThreads: nonNegativeInt.max(256).default(1) }).prefault({}),
  telemetry: z
    .strictObject({
      serviceName: z.string().min(1).default('cleave-edge'),
      otlpEndpoint: z.url({ protocol: /^https?$/ }).optional(),
    })
    .prefault({}),
  /** Longest a drain waits for in-flight requests. */
  drain: z.strictObject({ timeoutMs: positiveInt.default(10_000) }).prefault({}),
});

/** The validated edge configuration, with every default filled in. */
export type EdgeConfig = z.output<typeof EdgeConfigSchema>;
/** One entry of {@link EdgeConfig.models}. */
export type ModelConfig = EdgeConfig['models'][number];
/** The configuration as written (before defaults), for tests and programmatic use. */
export type EdgeConfigInput = z.input<typeof EdgeConfigSchema>;

/** A problem found across fields: where, and what. */
export type CrossFieldIssue = CrossFieldProblem;

/**
 * Checks that span fields: one NATS authentication method, user with pass, certificate with key, distinct model
 * ids, ordered battery thresholds and probe sizes. Reads the raw merged value defensively, so every problem is
 * reported in one go even when other fields fail the schema.
 */
export function crossFieldIssues(raw: unknown): CrossFieldIssue[] {
  const root = record(raw);
  if (root === undefined) return [];
  const issues: CrossFieldIssue[] = [];
  issues.push(...natsCrossFieldProblems(root['nats']));
  if (Array.isArray(root['models'])) {
    const seen = new Set<unknown>();
    (root['models'] as unknown[]).forEach((model, i) => {
      const id = record(model)?.['id'];
      if (id !== undefined && seen.has(id)) {
        issues.push({ path: ['models', String(i), 'id'], message: `model ${JSON.stringify(id)} is listed twice` });
      }
      seen.add(id);
    });
  }
  const battery = record(root['battery']);
  const balanced = battery?.['balancedBelow'];
  const energy = battery?.['energyBelow'];
  if (typeof balanced === 'number' && typeof energy === 'number' && energy > balanced) {
    issues.push({ path: ['battery', 'energyBelow'], message: `must not exceed balancedBelow (${balanced})` });
  }
  const link = record(root['link']);
  const min = link?.['probeMinBytes'];
  const max = link?.['probeMaxBytes'];
  if (typeof min === 'number' && typeof max === 'number' && min > max) {
    issues.push({ path: ['link', 'probeMinBytes'], message: `must not exceed probeMaxBytes (${max})` });
  }
  const stale = link?.['probeStaleMs'] ?? 500;
  const idleMax = link?.['probeIdleMaxMs'];
  if (typeof stale === 'number' && typeof idleMax === 'number' && idleMax < stale) {
    issues.push({ path: ['link', 'probeIdleMaxMs'], message: `must not be below probeStaleMs (${stale})` });
  }
  return issues;
}
