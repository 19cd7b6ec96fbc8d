import { z } from 'zod';
import { BundleSignatureSchema } from './bundle-integrity.js';
import { CodecSchema, perCodecSchema } from './codecs.js';
import { ObjectiveSchema } from './objectives.js';
import { ProtocolError, ProtocolErrorCode } from './protocol-error.js';
import { TaskSchema } from './tasks.js';
import { isSafeRelativePath, SAFE_RELATIVE_PATH_RULE } from './relative-path.js';
import { formatIssue, formatPath } from './schema-issues.js';
import { isValidToken } from './subjects.js';

/** Value of `format` in every manifest this build reads. */
export const BUNDLE_FORMAT = 'cleave.bundle/v1';

/** Where a split candidate runs the model. */
export const CandidateKind = {
  /** The whole model on the edge; nothing crosses the wire. */
  EdgeOnly: 'edge-only',
  /** The whole model in the cloud; the model inputs cross the wire. */
  CloudOnly: 'cloud-only',
  /** A head on the edge and a tail in the cloud; the cut tensors cross the wire. */
  Split: 'split',
} as const;
/** One of {@link CandidateKind}. */
export type CandidateKind = (typeof CandidateKind)[keyof typeof CandidateKind];

const token = z.string().refine(isValidToken, { message: 'must be 1-128 characters of A-Z a-z 0-9 _ -' });
const relativePath = z.string().refine(isSafeRelativePath, { message: SAFE_RELATIVE_PATH_RULE });
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
const nonNegative = z.number().nonnegative();
const byteCount = z.number().int().nonnegative();

/** Name, element type and shape of a model or cut tensor; a string or null dim is symbolic (e.g. 'batch'). */
export const TensorSpecSchema = z.object({
  name: z.string().min(1),
  dtype: z.string().min(1),
  shape: z.array(z.union([z.number().int().nonnegative(), z.string(), z.null()])),
});
/** Name, element type and shape of a model or cut tensor. */
export type TensorSpec = z.infer<typeof TensorSpecSchema>;

/** Measured latency of one stage (head on the edge, tail in the cloud) at a batch size. */
export const StageProfileSchema = z.object({
  medianMs: nonNegative,
  p90Ms: nonNegative,
  runs: z.number().int().positive(),
  batch: z.number().int().positive(),
});
/** Measured latency of one stage at a batch size. */
export type StageProfile = z.infer<typeof StageProfileSchema>;

/** One way to run the model: edge only, cloud only, or split at `cut`. */
export const SplitCandidateSchema = z.object({
  id: token,
  kind: z.enum(CandidateKind),
  /** Tensors crossing the wire: [] for edge-only, the model inputs for cloud-only. */
  cut: z.array(z.string().min(1)),
  /** Head ONNX file, null for cloud-only. */
  head: relativePath.nullable(),
  /** Tail ONNX file, null for edge-only. */
  tail: relativePath.nullable(),
  /**
   * Every file this candidate needs besides the manifest: its graphs and the weights file they reference (bundles
   * store the weights once, see `weights`). An agent, a replica and the console sum these to know what a candidate
   * costs to fetch. Absent in bundles written before weights were shared: then head and tail embed their weights.
   */
  files: z.array(relativePath).optional(),
  cutTensors: z.array(TensorSpecSchema),
  /** Wire bytes of the cut tensors for one sample, per codec. */
  bytesPerSample: perCodecSchema(byteCount),
  /**
   * Wire bytes of the reply for one sample (every final output), per request codec: the reply codec follows the
   * request's (see CODEC_SPECS.replyCodec). Absent in bundles written before replies were costed; read as 0.
   */
  replyBytesPerSample: perCodecSchema(byteCount).optional(),
  profile: z.object({
    edge: StageProfileSchema.optional(),
    cloud: StageProfileSchema.optional(),
    /** The tail measured on the edge device: the cost of finishing locally what no exit answered. */
    edgeTail: StageProfileSchema.optional(),
    /** Median ms on the edge device to encode the cut tensors, per codec. */
    encodeMs: perCodecSchema(nonNegative).optional(),
  }),
  /** How the cut was found: a dominator, a min s–t cut, or the whole model. */
  origin: z.string().optional(),
  /** Early-exit outputs this candidate's head computes, in order. */
  exits: z.array(z.string().min(1)).optional(),
  /** Fraction of requests the head's exits answer at the operating point. */
  exitRate: z.number().min(0).max(1).optional(),
});
/** One way to run the model: edge only, cloud only, or split at `cut`. */
export type SplitCandidate = z.infer<typeof SplitCandidateSchema>;

/** The best candidate and codec for one objective over a bandwidth interval [minMbps, maxMbps). */
export const PlanRangeSchema = z.object({
  objective: ObjectiveSchema,
  minMbps: nonNegative,
  /** Upper bound of the interval; null means unbounded. */
  maxMbps: nonNegative.nullable(),
  candidate: token,
  codec: CodecSchema,
  /**
   * Where the tail runs for requests no exit answers: `edge` keeps the whole request on the device (staged
   * execution: the head with its exits, then the tail only when needed). Absent means the cloud.
   */
  tailOn: z.enum(['cloud', 'edge']).optional(),
  expectedLatencyMs: nonNegative,
  expectedEdgeJoules: nonNegative,
});
/** The best candidate and codec for one objective over a bandwidth interval. */
export type PlanRange = z.infer<typeof PlanRangeSchema>;

/** The partitioner's plan: which candidate and codec to use at each bandwidth, per objective. */
export const BundlePlanSchema = z.object({
  /** Round-trip time assumed while planning. */
  rttMs: nonNegative,
  /** Largest message the NATS server accepts; options whose request or reply exceeds it were excluded. */
  maxPayloadBytes: z.number().int().positive(),
  /** Downlink Mbps ÷ uplink Mbps assumed for replies; the ranges are in uplink Mbps. Absent means 1. */
  downlinkRatio: z.number().positive().optional(),
  objectives: z.array(ObjectiveSchema).min(1),
  ranges: z.array(PlanRangeSchema),
});
/** The partitioner's plan. */
export type BundlePlan = z.infer<typeof BundlePlanSchema>;

/** Early-exit behaviour at one accuracy budget: thresholds per exit (null = never exit there) and the outcome. */
export const OperatingPointSchema = z.object({
  budgetPoints: nonNegative,
  thresholds: z.record(z.string(), z.number().nullable()),
  exitRate: z.number().min(0).max(1),
  accuracy: z.number().min(0).max(1),
  perExit: z.array(
    z.object({ output: z.string().min(1), rate: z.number().min(0).max(1), accuracy: z.number().min(0).max(1) }),
  ),
});
/** Early-exit behaviour at one accuracy budget. */
export type OperatingPoint = z.infer<typeof OperatingPointSchema>;

/** Calibrated exit policy: the chosen operating point, the curve the agent may move along, and the floor it must respect. */
export const ExitPolicySchema = z.object({
  measure: z.enum(['max-prob', 'margin', 'entropy']),
  budgetPoints: nonNegative,
  floorAccuracy: z.number().min(0).max(1),
  finalAccuracy: z.number().min(0).max(1),
  samples: z.number().int().positive(),
  /** The calibration data set, as given. */
  source: z.string(),
  /**
   * What accuracy is measured against: the data's labels, or agreement with the full model's answer when the data
   * had none. Absent in older bundles (labels).
   */
  reference: z.enum(['labels', 'agreement']).optional(),
  /** The task the exits were calibrated for. */
  task: TaskSchema.optional(),
  operatingPoint: OperatingPointSchema,
  curve: z.array(OperatingPointSchema),
});
/** Calibrated exit policy. */
export type ExitPolicy = z.infer<typeof ExitPolicySchema>;

/** The manifest of a bundle: the model, every file with its hash, the split candidates and the plan. */
export const BundleManifestSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  /** Bundle version, derived from the content (see `contentVersion`); a subject token, since it names the tail subject. */
  version: token,
  createdAt: z.iso.datetime({ offset: true }),
  model: z.object({
    id: token,
    file: relativePath,
    sha256,
    inputs: z.array(TensorSpecSchema).min(1),
    outputs: z.array(TensorSpecSchema).min(1),
    /**
     * The primary final output: the one early exits stand in for. Every output that is not an exit is a final
     * output and comes back on every path.
     */
    final: z.string().min(1).optional(),
    /** What the outputs mean; absent in older bundles, which were all classifiers. */
    task: TaskSchema.optional(),
    /**
     * onnxruntime session options every head, tail and whole-model session of this bundle must use, chosen by the
     * partitioner so that every path gives the same answer (some graph optimisations change a model's numbers).
     */
    sessionOptions: z.object({ graphOptimizationLevel: z.enum(['disabled', 'basic', 'extended', 'all']) }).optional(),
  }),
  /**
   * The bundle's weights file, when its graphs store their weights externally (ONNX external data, by offset and
   * length): each weight once, however many heads and tails read it. onnxruntime resolves the location relative to
   * the graph's own directory, so graphs sit beside it.
   */
  weights: z.object({ file: relativePath, tensors: z.number().int().nonnegative() }).optional(),
  /** Every file in the bundle, by relative path. */
  // Keys are checked in crossFieldIssues: a zod key refinement reports only "Invalid key in record".
  files: z.record(z.string(), z.object({ sha256, bytes: byteCount })),
  candidates: z.array(SplitCandidateSchema).min(1),
  /** Early-exit outputs, in order: built into the model, or attached post hoc by Cleave. */
  exits: z
    .array(
      z.object({
        output: z.string().min(1),
        kind: z.enum(['built-in', 'post-hoc']).optional(),
        attachedTo: z.string().nullable().optional(),
        candidateIds: z.array(token).optional(),
      }),
    )
    .optional(),
  exitPolicy: ExitPolicySchema.optional(),
  plan: BundlePlanSchema,
  /** Descriptors of the devices profiled on; free-form. */
  profiles: z.looseObject({ edge: z.looseObject({}).optional(), cloud: z.looseObject({}).optional() }).optional(),
  /**
   * The publisher's Ed25519 signature of the rest of the manifest (see `manifestSigningBytes`); absent in unsigned
   * bundles, which agents and replicas refuse unless configured with `bundles.allowUnsigned`.
   */
  signature: BundleSignatureSchema.optional(),
});
/** onnxruntime session options a bundle prescribes for all of its sessions. */
export type SessionOptions = NonNullable<z.infer<typeof BundleManifestSchema>['model']['sessionOptions']>;

/** The manifest of a bundle. */
export type BundleManifest = z.infer<typeof BundleManifestSchema>;

/**
 * Validates a parsed `manifest.json`. Throws ProtocolError `bad_message` listing every problem, schema and
 * cross-field alike (`path: message`, also in `issues`), or `unsupported_version` for another `format`.
 */
export function parseBundleManifest(json: unknown): BundleManifest {
  const format = asRecord(json)?.format;
  if (typeof format === 'string' && format !== BUNDLE_FORMAT) {
    throw new ProtocolError(
      ProtocolErrorCode.UnsupportedVersion,
      `bundle manifest has format "${format.slice(0, 60)}"; this build reads "${BUNDLE_FORMAT}"`,
    );
  }
  const result = BundleManifestSchema.safeParse(json);
  const issues = [
    ...new Set([...(result.success ? [] : result.error.issues.map(formatIssue)), ...crossFieldIssues(json)]),
  ];
  if (result.success && issues.length === 0) return result.data;
  throw new ProtocolError(
    ProtocolErrorCode.BadMessage,
    `bundle manifest is invalid (${issues.length} ${issues.length === 1 ? 'problem' : 'problems'}):\n${issues
      .map((issue) => `  - ${issue}`)
      .join('\n')}`,
    { issues },
  );
}

// Checks that span fields. They read the raw value defensively, so they still run (and report) when other
// parts of the manifest fail the schema: the author sees every problem in one go.
function crossFieldIssues(json: unknown): string[] {
  const issues: string[] = [];
  const root = asRecord(json);
  if (root === undefined) return issues;
  const files = asRecord(root.files);
  for (const path of Object.keys(files ?? {})) {
    if (!isSafeRelativePath(path)) issues.push(`${formatPath(['files', path])}: ${SAFE_RELATIVE_PATH_RULE}`);
  }
  const requireListed = (path: unknown, where: string): void => {
    if (files !== undefined && isSafeRelativePath(path) && !Object.hasOwn(files, path)) {
      issues.push(`${where}: "${path}" is not listed in files`);
    }
  };
  const model = asRecord(root.model);
  requireListed(model?.file, 'model.file');
  requireListed(asRecord(root.weights)?.file, 'weights.file');
  const modelInputs = specNames(model?.inputs);

  const candidateIds = new Set<string>();
  const candidates = Array.isArray(root.candidates) ? (root.candidates as unknown[]) : undefined;
  candidates?.forEach((entry, i) => {
    const candidate = asRecord(entry);
    if (candidate === undefined) return;
    const at = `candidates.${i}`;
    if (typeof candidate.id === 'string') {
      if (candidateIds.has(candidate.id)) issues.push(`${at}.id: duplicate candidate id "${candidate.id}"`);
      candidateIds.add(candidate.id);
    }
    requireListed(candidate.head, `${at}.head`);
    requireListed(candidate.tail, `${at}.tail`);
    stringList(candidate.files)?.forEach((f, k) => requireListed(f, `${at}.files.${k}`));
    issues.push(...kindIssues(candidate, at, modelInputs));
    const cut = stringList(candidate.cut);
    const cutTensorNames = specNames(candidate.cutTensors);
    if (cut !== undefined && cutTensorNames !== undefined && cutTensorNames.join('\0') !== cut.join('\0')) {
      issues.push(`${at}.cutTensors: names [${cutTensorNames.join(', ')}] must match cut [${cut.join(', ')}]`);
    }
  });

  const plan = asRecord(root.plan);
  const objectives = stringList(plan?.objectives);
  const ranges = Array.isArray(plan?.ranges) ? (plan.ranges as unknown[]) : [];
  ranges.forEach((entry, i) => {
    const range = asRecord(entry);
    if (range === undefined) return;
    const at = `plan.ranges.${i}`;
    if (candidates !== undefined && typeof range.candidate === 'string' && !candidateIds.has(range.candidate)) {
      issues.push(`${at}.candidate: "${range.candidate}" is not a candidate id`);
    }
    if (objectives !== undefined && typeof range.objective === 'string' && !objectives.includes(range.objective)) {
      issues.push(`${at}.objective: "${range.objective}" is not one of plan.objectives`);
    }
    const { minMbps, maxMbps } = range;
    if (typeof minMbps === 'number' && typeof maxMbps === 'number' && maxMbps <= minMbps) {
      issues.push(`${at}.maxMbps: ${maxMbps} must be greater than minMbps ${minMbps}`);
    }
  });
  return issues;
}

// edge-only runs a head and no tail, cloud-only a tail and no head, split both; the cut follows from the kind.
function kindIssues(candidate: Record<string, unknown>, at: string, modelInputs: string[] | undefined): string[] {
  const { kind } = candidate;
  const cut = stringList(candidate.cut);
  const issues: string[] = [];
  const expect = (field: 'head' | 'tail', present: boolean): void => {
    const value = candidate[field];
    if (present && value === null) issues.push(`${at}.${field}: must be a file for a ${String(kind)} candidate`);
    if (!present && value !== null && value !== undefined) {
      issues.push(`${at}.${field}: must be null for a ${String(kind)} candidate`);
    }
  };
  if (kind === CandidateKind.EdgeOnly) {
    expect('head', true);
    expect('tail', false);
    if (cut !== undefined && cut.length > 0) issues.push(`${at}.cut: must be empty for an edge-only candidate`);
  } else if (kind === CandidateKind.CloudOnly) {
    expect('head', false);
    expect('tail', true);
    const sameAsInputs = modelInputs !== undefined && cut !== undefined && sameSet(cut, modelInputs);
    if (modelInputs !== undefined && cut !== undefined && !sameAsInputs) {
      issues.push(`${at}.cut: must be the model inputs [${modelInputs.join(', ')}] for a cloud-only candidate`);
    }
  } else if (kind === CandidateKind.Split) {
    expect('head', true);
    expect('tail', true);
    if (cut !== undefined && cut.length === 0) issues.push(`${at}.cut: must name at least one tensor for a split`);
  }
  return issues;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((x) => typeof x === 'string') ? value : undefined;
}

function specNames(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const names = (value as unknown[]).map((spec) => asRecord(spec)?.name);
  return stringList(names);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return set.size === new Set(b).size && b.every((x) => set.has(x));
}
