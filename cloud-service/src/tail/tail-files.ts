// The replica's copies of the bundle files its tails need, for bundles whose graphs keep their weights in one shared
// file (ONNX external data). onnxruntime reads such a graph's weights from the file its location names, relative to
// the graph's own directory, so each version gets a directory holding its tail graphs and its weights file, laid out
// as in the bundle. The weights are kept once per content (sha256): versions that share a weights file share one
// download and one file, hard-linked into each version's directory, so their sessions also share its pages.
// Bundles that embed their weights in each graph need none of this: their tails load from bytes, as before.
import { copyFile, link, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { BundleManifest, SplitCandidate } from '@cleave/proto';
import type { BundleReader } from '@cleave/node-runtime';

/** A weights file by content: the unit the replica fetches, stores and counts once. */
export interface WeightsContent {
  readonly sha256: string;
  readonly bytes: number;
}

/** What the executor loads for one tail, and the hold on its files. */
export interface TailSource {
  /** The graph's bytes (weights embedded), or the path of the graph file beside its weights. */
  readonly model: Uint8Array | string;
  /** Drops this tail's hold on its files; the last hold on a version or a weights content removes them. */
  release(): Promise<void>;
}

/** Dependencies of {@link createTailFiles}. */
export interface TailFilesDeps {
  readonly reader: BundleReader;
  /** Where the replica makes its own directory. @default os.tmpdir() */
  readonly cacheDir?: string;
  readonly onEvent?: (event: string, fields: Record<string, unknown>) => void;
}

/** The on-disk copies of one replica. */
export interface TailFiles {
  /** Creates the replica's directory (also done on first use). */
  start(): Promise<void>;
  /** Brings the files of `candidate`'s tail to where onnxruntime can load them. */
  open(manifest: BundleManifest, candidate: SplitCandidate): Promise<TailSource>;
  /** Removes the replica's directory. */
  close(): Promise<void>;
}

/**
 * The weights file `candidate`'s tail reads, or undefined when the bundle embeds its weights in each graph: the
 * manifest's `weights.file`, unless the candidate lists its files and that one is not among them.
 */
export function tailWeights(
  manifest: BundleManifest,
  candidate: SplitCandidate,
): (WeightsContent & { readonly file: string }) | undefined {
  const file = manifest.weights?.file;
  if (file === undefined || candidate.tail === null) return undefined;
  if (candidate.files !== undefined && !candidate.files.includes(file)) return undefined;
  const entry = manifest.files[file]!;
  return { file, sha256: entry.sha256, bytes: entry.bytes };
}

interface Content {
  holds: number;
  /** The stored file's path. */
  readonly ready: Promise<string>;
}

interface VersionDir {
  holds: number;
  /** The directory's path, once it holds the version's weights file. */
  readonly ready: Promise<string>;
  readonly graphs: Map<string, Promise<string>>;
  /** The weights content this directory links, once held; released with the directory. */
  content: string | undefined;
}

/** Creates the replica's file store; nothing touches the disk until {@link TailFiles.start} or the first open. */
export function createTailFiles(deps: TailFilesDeps): TailFiles {
  const { reader } = deps;
  const contents = new Map<string, Content>();
  const versions = new Map<string, VersionDir>();
  const removals = new Set<Promise<void>>();
  let root: Promise<string> | undefined;
  let closed = false;
  let generation = 0;
  const unique = (): number => (generation += 1);

  function rootDir(): Promise<string> {
    if (closed) return Promise.reject(new Error('the tail file store is closed'));
    root ??= (async () => {
      const parent = deps.cacheDir ?? tmpdir();
      await mkdir(parent, { recursive: true });
      const dir = await mkdtemp(join(parent, 'cleave-cloud-'));
      await mkdir(join(dir, 'weights'));
      return dir;
    })();
    return root;
  }

  function track(removal: Promise<void>): void {
    removals.add(removal);
    void removal.finally(() => removals.delete(removal));
  }

  // Writes through a temporary name, so a path that exists is a complete file.
  async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    const partial = `${path}.partial-${unique()}`;
    await writeFile(partial, bytes);
    await rename(partial, path);
  }

  // One download per content however many versions ask at once; the store checks the bytes' sha256. Files are
  // named with a generation, so a content removed and fetched again never races its own removal.
  function holdContent(manifest: BundleManifest, weights: WeightsContent & { file: string }): Promise<string> {
    let content = contents.get(weights.sha256);
    if (content === undefined) {
      const ready = (async () => {
        const dir = await rootDir();
        const started = performance.now();
        const bytes = await reader.readFile(manifest.model.id, manifest.version, weights.file, manifest);
        const path = join(dir, 'weights', `${weights.sha256}-${unique()}`);
        await writeAtomically(path, bytes);
        deps.onEvent?.('weights fetched', {
          sha256: weights.sha256,
          bytes: weights.bytes,
          bundle: `${manifest.model.id}@${manifest.version}`,
          ms: Math.round(performance.now() - started),
        });
        return path;
      })();
      const fresh: Content = { holds: 0, ready };
      content = fresh;
      contents.set(weights.sha256, fresh);
      // A failed download is forgotten at once (its holders release it too), so the next load tries again.
      ready.catch(() => {
        if (contents.get(weights.sha256) === fresh) contents.delete(weights.sha256);
      });
    }
    content.holds += 1;
    return content.ready;
  }

  function releaseContent(sha256: string): void {
    const content = contents.get(sha256);
    if (content === undefined) return;
    content.holds -= 1;
    if (content.holds > 0) return;
    contents.delete(sha256);
    track(content.ready.then((path) => rm(path, { force: true })).catch(() => undefined));
  }

  function holdVersion(manifest: BundleManifest, weights: WeightsContent & { file: string }): VersionDir {
    const key = `${manifest.model.id}/${manifest.version}`;
    let version = versions.get(key);
    if (version === undefined) {
      const held: Omit<VersionDir, 'ready'> = { holds: 0, graphs: new Map(), content: undefined };
      const fresh: VersionDir = Object.assign(held, {
        ready: (async () => {
          const dir = join(await rootDir(), 'versions', manifest.model.id, `${manifest.version}-${unique()}`);
          held.content = weights.sha256;
          const stored = await holdContent(manifest, weights);
          const target = join(dir, weights.file);
          await mkdir(dirname(target), { recursive: true });
          // A hard link shares the file (and, once mapped, its pages); a file system without links gets a copy.
          await link(stored, target).catch(() => copyFile(stored, target));
          return dir;
        })(),
      });
      version = fresh;
      versions.set(key, version);
    }
    version.holds += 1;
    return version;
  }

  function releaseVersion(key: string, version: VersionDir): void {
    version.holds -= 1;
    if (version.holds > 0) return;
    if (versions.get(key) === version) versions.delete(key);
    const removal = (async () => {
      const dir = await version.ready.catch(() => undefined);
      if (dir !== undefined) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      if (version.content !== undefined) releaseContent(version.content);
    })();
    track(removal);
  }

  async function open(manifest: BundleManifest, candidate: SplitCandidate): Promise<TailSource> {
    const path = candidate.tail;
    if (path === null) throw new Error(`candidate ${candidate.id} has no tail`);
    const { id: model } = manifest.model;
    const weights = tailWeights(manifest, candidate);
    if (weights === undefined) {
      const bytes = await reader.readFile(model, manifest.version, path, manifest);
      return { model: bytes, release: () => Promise.resolve() };
    }
    const key = `${model}/${manifest.version}`;
    const version = holdVersion(manifest, weights);
    let released = false;
    const release = (): Promise<void> => {
      if (!released) {
        released = true;
        releaseVersion(key, version);
      }
      return Promise.resolve();
    };
    try {
      const dir = await version.ready;
      let graph = version.graphs.get(path);
      if (graph === undefined) {
        const writing = (async () => {
          const bytes = await reader.readFile(model, manifest.version, path, manifest);
          await writeAtomically(join(dir, path), bytes);
          return join(dir, path);
        })();
        graph = writing;
        version.graphs.set(path, writing);
        writing.catch(() => version.graphs.delete(path));
      }
      return { model: await graph, release };
    } catch (error) {
      await release();
      throw error;
    }
  }

  return {
    start: async () => {
      await rootDir();
    },
    open,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...removals]);
      const dir = await root?.catch(() => undefined);
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}
