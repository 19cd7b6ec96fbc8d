// What a promotion will cost and change, computed before anyone confirms it: the bytes each agent will download
// (files are content-addressed, so an agent fetches only the files whose sha256 its cached version lacks) and
// how the new manifest differs from the current one (exit rate, accuracy, candidates).
import { agentBundleFiles } from '@cleave/node-runtime';
import type { BundleManifest } from '@cleave/proto';

/** The files an agent running `split` fetches of `manifest` (it fetches the split in use on demand anyway). */
export function filesAnAgentFetches(manifest: BundleManifest, split: string | undefined): string[] {
  return agentBundleFiles(manifest, split === undefined ? [] : [split]);
}

/** What one agent will download when `target` becomes current. */
export interface AgentDownloadEstimate {
  /** Files of `target` whose content the agent does not hold. */
  readonly files: readonly string[];
  /** Their bytes (a blob shared by several paths counts once). */
  readonly bytes: number;
  /** Bytes of `target`'s files the agent already holds (from its cached version), so not fetched again. */
  readonly reusedBytes: number;
}

/**
 * Bytes an agent holding `held` (undefined: nothing cached) and running `split` downloads to switch to `target`,
 * besides the manifest itself.
 */
export function estimateAgentDownload(
  target: BundleManifest,
  held: BundleManifest | undefined,
  split: string | undefined,
): AgentDownloadEstimate {
  const heldBlobs = new Set(
    held === undefined ? [] : filesAnAgentFetches(held, split).map((path) => held.files[path]!.sha256),
  );
  const files: string[] = [];
  const fresh = new Set<string>();
  let bytes = 0;
  let reusedBytes = 0;
  for (const path of filesAnAgentFetches(target, split)) {
    const entry = target.files[path]!;
    if (heldBlobs.has(entry.sha256)) {
      reusedBytes += entry.bytes;
      continue;
    }
    files.push(path);
    if (!fresh.has(entry.sha256)) bytes += entry.bytes;
    fresh.add(entry.sha256);
  }
  return { files, bytes, reusedBytes };
}

/** The calibrated operating point of a manifest, when it has exits. */
function operatingPoint(manifest: BundleManifest) {
  const policy = manifest.exitPolicy;
  return policy === undefined
    ? undefined
    : {
        exitRate: policy.operatingPoint.exitRate,
        accuracy: policy.operatingPoint.accuracy,
        finalAccuracy: policy.finalAccuracy,
        floorAccuracy: policy.floorAccuracy,
        budgetPoints: policy.budgetPoints,
      };
}

/** How two versions of a model differ, as the promote dialog shows it. */
export interface ManifestDiff {
  readonly from: string | undefined;
  readonly to: string;
  /** Exit operating point before and after (null where the version has no calibrated exits). */
  readonly exits: {
    readonly before: ReturnType<typeof operatingPoint> | null;
    readonly after: ReturnType<typeof operatingPoint> | null;
  };
  readonly candidates: {
    readonly added: readonly string[];
    readonly removed: readonly string[];
    readonly kept: readonly string[];
  };
  /** Bytes of every file of each version. */
  readonly bundleBytes: { readonly before: number | null; readonly after: number };
  readonly createdAt: { readonly before: string | null; readonly after: string };
}

const totalBytes = (m: BundleManifest) => Object.values(m.files).reduce((sum, f) => sum + f.bytes, 0);

/** The differences between `before` (the current version, if any) and `after` (the one to promote). */
export function diffManifests(before: BundleManifest | undefined, after: BundleManifest): ManifestDiff {
  const ids = (m: BundleManifest | undefined) => new Set(m?.candidates.map((c) => c.id) ?? []);
  const [old, next] = [ids(before), ids(after)];
  return {
    from: before?.version,
    to: after.version,
    exits: {
      before: before === undefined ? null : (operatingPoint(before) ?? null),
      after: operatingPoint(after) ?? null,
    },
    candidates: {
      added: [...next].filter((id) => !old.has(id)),
      removed: [...old].filter((id) => !next.has(id)),
      kept: [...next].filter((id) => old.has(id)),
    },
    bundleBytes: { before: before === undefined ? null : totalBytes(before), after: totalBytes(after) },
    createdAt: { before: before?.createdAt ?? null, after: after.createdAt },
  };
}
