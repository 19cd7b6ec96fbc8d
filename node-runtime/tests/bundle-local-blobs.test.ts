import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blobObjectName, type BundleManifest, parseBundleManifest } from '@cleave/proto';
import {
  assertCandidateFetched,
  BundleStoreError,
  candidateFiles,
  checkBundleDir,
  filesOfCandidates,
  listsCandidateFiles,
  localBlobPath,
  missingFiles,
  pruneBlobs,
} from '../src/mod.js';
import { hasIntactBlob, linkOrCopy, writeBlob } from '../src/bundle-store/local-blobs.js';

const sha = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');
const image = { name: 'input', dtype: 'float32', shape: [1, 1, 28, 28] };
const cutSpec = { name: 'cut', dtype: 'float32', shape: [1, 8] };

/** File contents of a small bundle in the shared-weights format (or the older one, with `legacy`). */
function bundleFiles(legacy: boolean): Record<string, string> {
  return legacy
    ? {
        'model.onnx': 'whole model with its weights',
        'candidates/s1/head.onnx': 'head with weights',
        'candidates/s1/tail.onnx': 'tail with weights',
        'profiles/edge.json': '{}',
      }
    : {
        'model.onnx': 'whole graph',
        's1.head.onnx': 'head graph',
        's1.tail.onnx': 'tail graph',
        's2.head.onnx': 'head graph 2',
        's2.tail.onnx': 'tail graph 2',
        'weights.bin': 'all the weights, once',
        'profiles/edge.json': '{}',
      };
}

function manifestOf(contents: Record<string, string>, legacy: boolean): BundleManifest {
  const files = Object.fromEntries(
    Object.entries(contents).map(([path, text]) => [path, { sha256: sha(text), bytes: Buffer.byteLength(text) }]),
  );
  const split = (id: string, head: string, tail: string) => ({
    id,
    kind: 'split' as const,
    cut: ['cut'],
    head,
    tail,
    ...(legacy ? {} : { files: [head, tail, 'weights.bin'] }),
    cutTensors: [cutSpec],
    bytesPerSample: { f32: 32, f16: 16, int8: 8 },
    profile: {},
  });
  return parseBundleManifest({
    format: 'cleave.bundle/v1',
    version: legacy ? 'v-legacy' : 'v-shared',
    createdAt: '2024-05-01T12:00:00.000Z',
    model: {
      id: 'm',
      file: 'model.onnx',
      sha256: files['model.onnx']!.sha256,
      inputs: [image],
      outputs: [{ name: 'logits', dtype: 'float32', shape: [1, 10] }],
    },
    ...(legacy ? {} : { weights: { file: 'weights.bin', tensors: 3 } }),
    files,
    candidates: [
      {
        id: 'edge-only',
        kind: 'edge-only',
        cut: [],
        head: 'model.onnx',
        tail: null,
        ...(legacy ? {} : { files: ['model.onnx', 'weights.bin'] }),
        cutTensors: [],
        bytesPerSample: { f32: 0, f16: 0, int8: 0 },
        profile: {},
      },
      legacy
        ? split('s1', 'candidates/s1/head.onnx', 'candidates/s1/tail.onnx')
        : split('s1', 's1.head.onnx', 's1.tail.onnx'),
      ...(legacy ? [] : [split('s2', 's2.head.onnx', 's2.tail.onnx')]),
    ],
    plan: {
      rttMs: 1,
      maxPayloadBytes: 1_048_576,
      objectives: ['latency'],
      ranges: [
        {
          objective: 'latency',
          minMbps: 0,
          maxMbps: null,
          candidate: 's1',
          codec: 'f32',
          expectedLatencyMs: 1,
          expectedEdgeJoules: 0,
        },
      ],
    },
  });
}

async function writeBundle(dir: string, contents: Record<string, string>, only?: readonly string[]): Promise<void> {
  for (const [path, text] of Object.entries(contents)) {
    if (only !== undefined && !only.includes(path)) continue;
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
}

function thrown(fn: () => unknown): BundleStoreError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BundleStoreError);
    return error as BundleStoreError;
  }
  throw new Error('expected a BundleStoreError');
}

describe('blob object names', () => {
  it('names a blob by its sha256 under blobs/', () => {
    expect(blobObjectName('a'.repeat(64))).toBe(`blobs/${'a'.repeat(64)}`);
  });

  it.each(['', 'A'.repeat(64), 'a'.repeat(63), `${'a'.repeat(63)}.`, '../etc/passwd', `${'a'.repeat(64)}/x`])(
    'refuses %j, which is not a lowercase sha256',
    (value) => {
      expect(() => blobObjectName(value)).toThrow(/must be 64 lowercase hex digits/);
    },
  );
});

describe('candidate files', () => {
  it("lists a candidate's graphs and the shared weights file, in the manifest's order", () => {
    const manifest = manifestOf(bundleFiles(false), false);
    expect(listsCandidateFiles(manifest)).toBe(true);
    expect(candidateFiles(manifest, 's1')).toEqual(['s1.head.onnx', 's1.tail.onnx', 'weights.bin']);
    expect(candidateFiles(manifest, 'edge-only')).toEqual(['model.onnx', 'weights.bin']);
    expect(filesOfCandidates(manifest, ['s1', 'edge-only', 's1', 'no-such'])).toEqual([
      'model.onnx',
      's1.head.onnx',
      's1.tail.onnx',
      'weights.bin',
    ]);
  });

  it('reads an older bundle, without per-candidate files, as head and tail', () => {
    const manifest = manifestOf(bundleFiles(true), true);
    expect(listsCandidateFiles(manifest)).toBe(false);
    expect(candidateFiles(manifest, 's1')).toEqual(['candidates/s1/head.onnx', 'candidates/s1/tail.onnx']);
    expect(candidateFiles(manifest, 'edge-only')).toEqual(['model.onnx']);
  });

  it('refuses an unknown candidate', () => {
    const error = thrown(() => candidateFiles(manifestOf(bundleFiles(false), false), 'nope'));
    expect(error.code).toBe('not_found');
    expect(error.message).toMatch(/bundle m@v-shared has no candidate nope/);
  });

  it('refuses, naming every missing file, a candidate whose files this copy did not fetch', async () => {
    const contents = bundleFiles(false);
    const manifest = manifestOf(contents, false);
    const dir = await mkdtemp(join(tmpdir(), 'cleave-cand-'));
    await writeBundle(dir, contents, ['model.onnx', 's1.head.onnx', 's1.tail.onnx', 'weights.bin']);
    await expect(assertCandidateFetched(dir, manifest, 's1')).resolves.toBeUndefined();
    expect(await missingFiles(dir, candidateFiles(manifest, 's2'))).toEqual(['s2.head.onnx', 's2.tail.onnx']);
    const error = await assertCandidateFetched(dir, manifest, 's2').catch((e: unknown) => e as BundleStoreError);
    expect(error).toBeInstanceOf(BundleStoreError);
    expect(error).toMatchObject({ code: 'not_fetched' });
    expect((error as Error).message).toMatch(/candidate s2 needs s2\.head\.onnx, s2\.tail\.onnx, which are not in/);
  });
});

describe('local blobs', () => {
  it('hard-links a blob into a bundle directory, writing no bytes', async () => {
    const root = await mkdtemp(join(tmpdir(), 'cleave-blobs-'));
    const blobs = join(root, 'blobs');
    const bytes = new TextEncoder().encode('weights');
    const blob = await writeBlob(blobs, sha(bytes), bytes);
    expect(blob).toBe(localBlobPath(blobs, sha(bytes)));
    expect(await linkOrCopy(blob, join(root, 'bundle', 'weights.bin'))).toBe(0);
    expect((await stat(join(root, 'bundle', 'weights.bin'))).ino).toBe((await stat(blob)).ino);
    expect(await hasIntactBlob(blobs, { sha256: sha(bytes), bytes: bytes.byteLength })).toBe(true);
    expect(await readdir(blobs)).toEqual([sha(bytes)]); // no temporary file left
  });

  it('removes a blob whose bytes do not hash to its name', async () => {
    const blobs = await mkdtemp(join(tmpdir(), 'cleave-blobs-'));
    const expected = sha('good');
    await writeFile(join(blobs, expected), 'evil');
    expect(await hasIntactBlob(blobs, { sha256: expected, bytes: 4 })).toBe(false);
    expect(await readdir(blobs)).toEqual([]);
    expect(() => localBlobPath(blobs, '../x')).toThrow(/is not a sha256/);
  });

  it('prunes blobs no kept version lists, and leftovers of interrupted writes', async () => {
    const blobs = await mkdtemp(join(tmpdir(), 'cleave-blobs-'));
    for (const text of ['a', 'b']) await writeFile(join(blobs, sha(text)), text);
    await writeFile(join(blobs, `.${sha('c')}.1234.tmp`), 'c');
    expect(await pruneBlobs(blobs, new Set([sha('a')]))).toEqual([sha('b')]);
    expect(await readdir(blobs)).toEqual([sha('a')]);
  });
});

describe('checking a local bundle directory', () => {
  async function fetchedCopy(only?: readonly string[]) {
    const contents = bundleFiles(false);
    const manifest = manifestOf(contents, false);
    const root = await mkdtemp(join(tmpdir(), 'cleave-check-'));
    const blobs = join(root, 'blobs');
    const dir = join(root, 'bundle');
    for (const [path, text] of Object.entries(contents)) {
      if (only !== undefined && !only.includes(path)) continue;
      const blob = await writeBlob(blobs, sha(text), new TextEncoder().encode(text));
      await linkOrCopy(blob, join(dir, path));
    }
    return { contents, manifest, blobs, dir };
  }

  it('finds an intact copy intact, and gives a missing blob back from the bundle file', async () => {
    const { contents, manifest, blobs, dir } = await fetchedCopy();
    const weights = sha(contents['weights.bin']!);
    await rm(join(blobs, weights));
    const check = await checkBundleDir(dir, manifest, { required: Object.keys(contents), blobDir: blobs });
    expect(check).toEqual({ intact: Object.keys(manifest.files), missing: [], corrupted: [] });
    expect(await readFile(join(blobs, weights), 'utf8')).toBe(contents['weights.bin']);
  });

  it('removes a corrupted weights file and its blob (the same bytes), and says why', async () => {
    const { manifest, blobs, dir } = await fetchedCopy();
    const entry = manifest.files['weights.bin']!;
    // Written in place through the blob: the bundle's hard link sees the same damaged bytes.
    await writeFile(localBlobPath(blobs, entry.sha256), 'all the weights, onc!');
    const check = await checkBundleDir(dir, manifest, { required: candidateFiles(manifest, 's1'), blobDir: blobs });
    expect(check.missing).toEqual(['weights.bin']);
    expect(check.corrupted).toEqual([
      `${join(dir, 'weights.bin')} has sha256 ${sha('all the weights, onc!')} but ${entry.sha256} was expected`,
    ]);
    expect(await missingFiles(dir, ['weights.bin'])).toEqual(['weights.bin']);
    expect(await readdir(blobs)).not.toContain(entry.sha256);
  });

  it('reports required files that were never fetched, and nothing about the others', async () => {
    const { manifest, blobs, dir } = await fetchedCopy(['model.onnx', 'weights.bin']);
    const check = await checkBundleDir(dir, manifest, { required: candidateFiles(manifest, 's1'), blobDir: blobs });
    expect(check).toEqual({
      intact: ['model.onnx', 'weights.bin'],
      missing: ['s1.head.onnx', 's1.tail.onnx'],
      corrupted: [],
    });
  });

  it('rejects a file of the wrong size before hashing it', async () => {
    const { manifest, dir } = await fetchedCopy(['model.onnx']);
    await writeFile(join(dir, 'model.onnx'), 'short');
    const check = await checkBundleDir(dir, manifest, { required: ['model.onnx'] });
    expect(check.corrupted).toEqual([`${join(dir, 'model.onnx')} has 5 bytes but the manifest lists 11`]);
    expect(check.missing).toEqual(['model.onnx']);
  });
});
