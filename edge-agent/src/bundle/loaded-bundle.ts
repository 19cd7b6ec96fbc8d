// One bundle version of one model, with its onnxruntime sessions. Requests hold a lease for their whole life, so
// the head and the tail of a request always come from the same version; a retired bundle releases its sessions
// only when its last lease ends.
import { access, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import ort from 'onnxruntime-node';
import type { BundleManifest, SplitCandidate, TensorSpec } from '@cleave/proto';
import { sha256Hex } from '@cleave/node-runtime';
import { EdgeAgentError, EdgeErrorCode } from '../edge-agent-error.js';
import { assertBundleExitsEvaluable } from '../runtime/exit-decision.js';
import { type AgentTensor, fromOrtTensor, toOrtTensor, zeroTensor } from '../runtime/tensor-io.js';

/** One loaded ONNX file (a head, a tail, or the whole model). */
export interface StageSession {
  /** Bundle-relative path. */
  readonly file: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the model on `inputs` and returns the `fetches` outputs by name. */
  run(inputs: readonly AgentTensor[], fetches: readonly string[]): Promise<Map<string, AgentTensor>>;
  /** Smoothed run time on this device, once measured. */
  readonly typicalMs: number | undefined;
}

/** A request's hold on a bundle version. */
export interface BundleLease {
  readonly bundle: LoadedBundle;
  /** Idempotent. */
  release(): void;
}

/** A bundle version ready to serve. */
export interface LoadedBundle {
  readonly model: string;
  readonly version: string;
  readonly manifest: BundleManifest;
  readonly dir: string;
  /** The candidate with this id; throws `internal` when the manifest has none. */
  candidate(id: string): SplitCandidate;
  /** The session of a bundle file, loaded (hash-checked) on first use. */
  session(file: string): Promise<StageSession>;
  /** Loads and warms the head and tail of a candidate, so the first request on it pays no load time. */
  prepare(candidateId: string): Promise<void>;
  /** A lease, or undefined once the bundle is retired. */
  acquire(): BundleLease | undefined;
  /** Takes no new leases; releases sessions after the last lease ends. Resolves then. */
  retire(): Promise<void>;
  readonly leases: number;
}

/** What {@link loadBundle} needs. */
export interface LoadBundleOptions {
  readonly dir: string;
  readonly manifest: BundleManifest;
  readonly intraOpThreads: number;
  readonly now: () => number;
}

/**
 * Wraps a verified bundle directory; sessions load lazily. Refuses (ExitEvaluationError) a bundle whose exits this
 * agent cannot evaluate under the bundle's task, rather than serving it with those exits skipped.
 */
export function loadBundle(options: LoadBundleOptions): LoadedBundle {
  const { dir, manifest, now } = options;
  assertBundleExitsEvaluable(manifest);
  const sessions = new Map<string, Promise<ReleasableSession>>();
  let leases = 0;
  let retired = false;
  let released: Promise<void> | undefined;
  let onIdle: (() => void) | undefined;

  function candidate(id: string): SplitCandidate {
    const found = manifest.candidates.find((c) => c.id === id);
    if (found === undefined) {
      throw new EdgeAgentError(EdgeErrorCode.Internal, `bundle ${manifest.version} has no candidate ${id}`);
    }
    return found;
  }

  function session(file: string): Promise<StageSession> {
    let loading = sessions.get(file);
    if (loading === undefined) {
      loading = createSession(dir, manifest, file, options.intraOpThreads, now);
      sessions.set(file, loading);
      // A failed load is forgotten so that the next request tries again.
      loading.catch(() => sessions.delete(file));
    }
    return loading;
  }

  async function prepare(candidateId: string): Promise<void> {
    const c = candidate(candidateId);
    const warm = async (file: string | null, inputs: readonly TensorSpec[]): Promise<void> => {
      if (file === null) return;
      const s = await session(file);
      await s.run(
        inputs.map((spec) => zeroTensor(spec)),
        s.outputNames,
      );
    };
    await warm(c.head, manifest.model.inputs);
    await warm(c.tail, c.kind === 'cloud-only' ? manifest.model.inputs : c.cutTensors);
  }

  async function releaseAll(): Promise<void> {
    const all = [...sessions.values()];
    sessions.clear();
    await Promise.allSettled(all.map(async (s) => (await s).release?.()));
  }

  const bundle: LoadedBundle = {
    model: manifest.model.id,
    version: manifest.version,
    manifest,
    dir,
    candidate,
    session,
    prepare,
    acquire() {
      if (retired) return undefined;
      leases += 1;
      let done = false;
      return {
        bundle,
        release() {
          if (done) return;
          done = true;
          leases -= 1;
          if (leases === 0) onIdle?.();
        },
      };
    },
    retire() {
      retired = true;
      released ??= (async () => {
        if (leases > 0) await new Promise<void>((resolve) => (onIdle = resolve));
        await releaseAll();
      })();
      return released;
    },
    get leases() {
      return leases;
    },
  };
  return bundle;
}

interface ReleasableSession extends StageSession {
  release?(): Promise<void>;
}

async function createSession(
  dir: string,
  manifest: BundleManifest,
  file: string,
  intraOpThreads: number,
  now: () => number,
): Promise<ReleasableSession> {
  const entry = manifest.files[file];
  if (entry === undefined) {
    throw new EdgeAgentError(EdgeErrorCode.Internal, `bundle ${manifest.version} does not list ${file}`);
  }
  const path = join(dir, file);
  const bytes = await readFile(path).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw missingFile(manifest, file, file, dir);
    throw error;
  });
  // Checked again at load: the cache directory may have been touched since the bundle was fetched.
  const actual = sha256Hex(bytes);
  if (actual !== entry.sha256) {
    throw new EdgeAgentError(
      EdgeErrorCode.Internal,
      `${path} has sha256 ${actual}, not ${entry.sha256}: the cached bundle is corrupted`,
    );
  }
  // The graph reads its weights from the bundle's weights file (ONNX external data). The cache layer verified it
  // when it was fetched; hashing it for every session would read the whole file each time, so only its presence
  // is checked here, for a clear error instead of onnxruntime's when an agent fetched a subset of the files.
  const weights = weightsFileOf(manifest, file);
  if (weights !== undefined) {
    await access(join(dir, weights)).catch(() => {
      throw missingFile(manifest, file, weights, dir);
    });
  }
  const ortSession = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: intraOpThreads,
    // The bundle's level for every session (onnxruntime's default, 'all', when it names none): some optimisations
    // change a model's numbers, and the edge must compute what the cloud and the partitioner computed.
    graphOptimizationLevel: manifest.model.sessionOptions?.graphOptimizationLevel ?? 'all',
    // A graph loaded from bytes has no directory of its own: external data locations resolve against the one the
    // graph sits in, as they would had it been loaded by path. onnxruntime maps the weights file, so the sessions of
    // a bundle share its pages. Harmless for graphs that embed their weights.
    extra: { session: { model_external_initializers_file_folder_path: resolve(dirname(path)) } },
  });
  let typicalMs: number | undefined;
  return {
    file,
    inputNames: ortSession.inputNames,
    outputNames: ortSession.outputNames,
    async run(inputs, fetches) {
      const feeds: Record<string, ort.Tensor> = {};
      for (const t of inputs) feeds[t.name] = toOrtTensor(t);
      const started = now();
      const results = await ortSession.run(feeds, [...fetches]);
      const ms = now() - started;
      typicalMs = typicalMs === undefined ? ms : 0.8 * typicalMs + 0.2 * ms;
      const out = new Map<string, AgentTensor>();
      for (const name of fetches) out.set(name, fromOrtTensor(name, results[name]!));
      return out;
    },
    get typicalMs() {
      return typicalMs;
    },
    release: () => ortSession.release(),
  };
}

/**
 * The weights file `file` reads, when the bundle stores its weights externally: the manifest's `weights.file`,
 * unless every candidate running `file` lists its files and none of them names it.
 */
function weightsFileOf(manifest: BundleManifest, file: string): string | undefined {
  const weights = manifest.weights?.file;
  if (weights === undefined) return undefined;
  const users = manifest.candidates.filter((c) => c.head === file || c.tail === file);
  const listed = users.length > 0 && users.every((c) => c.files !== undefined);
  return !listed || users.some((c) => c.files!.includes(weights)) ? weights : undefined;
}

/** The candidates that run `graph` need `missing`, which is not in `dir` (the agent fetched only some files). */
function missingFile(manifest: BundleManifest, graph: string, missing: string, dir: string): EdgeAgentError {
  const users = manifest.candidates.filter((c) => c.head === graph || c.tail === graph).map((c) => c.id);
  const who = users.length === 0 ? `${graph}` : `candidate ${users.join(', ')} (${graph})`;
  return new EdgeAgentError(
    EdgeErrorCode.NotReady,
    `bundle ${manifest.model.id}@${manifest.version}: ${who} needs ${missing}, which is not in ${dir}; fetch the candidate's files first`,
  );
}
