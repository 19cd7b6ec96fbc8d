// The registry's decisions (which error, what to evict, what to remember), with an in-memory store and executor.
// The real object store and onnxruntime are exercised by the integration suite.
import { describe, expect, it } from 'vitest';
import type { BundleManifest } from '@cleave/proto';
import { BundleStoreError, type BundleReader, type ManifestWithBytes } from '@cleave/node-runtime';
import { ServeError } from '../src/service/serve-error.js';
import type { LoadedSession } from '../src/tail/executor-protocol.js';
import type { TailExecutor } from '../src/tail/ort-executor.js';
import { createTailRegistry } from '../src/tail/tail-registry.js';

const spec = { name: 'cut', dtype: 'float32', shape: ['batch', 4] };

function manifest(model: string, version: string, tailBytes: Record<string, number>): BundleManifest {
  const files: Record<string, { sha256: string; bytes: number }> = {
    'model.onnx': { sha256: 'a'.repeat(64), bytes: 1 },
  };
  const candidates = Object.entries(tailBytes).map(([id, bytes]) => {
    files[`${id}/tail.onnx`] = { sha256: 'b'.repeat(64), bytes };
    return {
      id,
      kind: 'split',
      cut: ['cut'],
      head: 'model.onnx',
      tail: `${id}/tail.onnx`,
      cutTensors: [spec],
      bytesPerSample: { f32: 16, f16: 8, int8: 4 },
      profile: {},
    };
  });
  candidates.push({
    id: 'edge-only',
    kind: 'edge-only',
    cut: [],
    head: 'model.onnx',
    tail: null as unknown as string,
    cutTensors: [],
    bytesPerSample: { f32: 0, f16: 0, int8: 0 },
    profile: {},
  });
  return { version, model: { id: model }, files, candidates } as unknown as BundleManifest;
}

function fakeStore(bundles: BundleManifest[], current: Record<string, string>) {
  const calls = { manifests: 0, files: 0, current: 0 };
  const reader: BundleReader = {
    prefix: 'test',
    readManifest(model, version) {
      calls.manifests += 1;
      const found = bundles.find((b) => b.model.id === model && b.version === version);
      if (found === undefined)
        return Promise.reject(new BundleStoreError('not_found', `bundle ${model}@${version} is not in the store`));
      return Promise.resolve({
        manifest: found,
        bytes: new Uint8Array(),
        sha256: 'c'.repeat(64),
      } satisfies ManifestWithBytes);
    },
    readFile(_model, _version, path, m) {
      calls.files += 1;
      return Promise.resolve(new Uint8Array(m!.files[path]!.bytes));
    },
    currentVersion(model) {
      calls.current += 1;
      return Promise.resolve(current[model]);
    },
  };
  return { reader, calls };
}

function fakeExecutor() {
  let next = 1;
  const loaded = new Set<number>();
  const unloaded: number[] = [];
  const executor: TailExecutor = {
    load: () => {
      const session = next++;
      loaded.add(session);
      return Promise.resolve({ session, inputs: [spec], outputs: [spec] } satisfies LoadedSession);
    },
    run: (_session, feeds) => Promise.resolve([...feeds]),
    unload: (session) => {
      loaded.delete(session);
      unloaded.push(session);
      return Promise.resolve();
    },
    onReset: () => undefined,
    close: () => Promise.resolve(),
  };
  return { executor, loaded, unloaded };
}

function registry(maxTailBytes = 250) {
  const store = fakeStore([manifest('m', 'v1', { a: 100, b: 100, c: 100, huge: 1000 })], { m: 'v1' });
  const exec = fakeExecutor();
  let clock = 0;
  const tails = createTailRegistry({
    reader: store.reader,
    verify: () => undefined, // signatures are tested against real bundles (threat-bundle-swap)
    executor: exec.executor,
    policy: { maxBatchSize: 8, maxQueueDelayUs: 0, maxQueueRequests: 8 },
    limits: { maxTailBytes, negativeCacheMs: 1000 },
    now: () => clock,
  });
  return { tails, store, exec, tick: (ms: number) => (clock += ms) };
}

async function failure(promise: Promise<unknown>): Promise<ServeError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ServeError);
  return error as ServeError;
}

const at = (split: string, version = 'v1', model = 'm') => ({ model, version, split });

describe('tail registry: which error', () => {
  it('answers unknown_model for a model never published and version_mismatch for another version', async () => {
    const { tails } = registry();
    const unknown = await failure(tails.acquire(at('a', 'v1', 'nope')));
    expect(unknown.code).toBe('unknown_model');
    const stale = await failure(tails.acquire(at('a', 'v0')));
    expect(stale.code).toBe('version_mismatch');
    expect(stale.message).toMatch(/model m has no version v0 in the store \(current is v1\)/);
  });

  it('answers bad_request for a split the bundle lacks or one without a tail', async () => {
    const { tails } = registry();
    expect((await failure(tails.acquire(at('zz')))).message).toMatch(
      /m@v1 has no split zz; splits with a tail: a, b, c, huge/,
    );
    expect((await failure(tails.acquire(at('edge-only')))).message).toMatch(/is edge-only: it has no tail/);
  });

  it('answers unavailable for a tail larger than the whole memory budget', async () => {
    const { tails } = registry();
    const error = await failure(tails.acquire(at('huge')));
    expect(error.code).toBe('unavailable');
    expect(error.message).toMatch(/needs 1000 bytes; the tail memory budget is 250/);
  });

  it('remembers failed lookups for a while, and forgets them on request', async () => {
    const { tails, store, tick } = registry();
    await failure(tails.acquire(at('a', 'v9')));
    const reads = store.calls.manifests;
    await failure(tails.acquire(at('b', 'v9')));
    await failure(tails.acquire(at('a', 'v9')));
    expect(store.calls.manifests).toBe(reads + 1); // a second split reads once; a repeat reads nothing
    tick(1001);
    await failure(tails.acquire(at('a', 'v9')));
    expect(store.calls.manifests).toBe(reads + 2);
    tails.forgetFailures('m');
    await failure(tails.acquire(at('a', 'v9')));
    expect(store.calls.manifests).toBe(reads + 3);
  });
});

describe('tail registry: loading and the memory-bounded LRU', () => {
  it('loads a tail once however many requests ask for it at the same time', async () => {
    const { tails, store, exec } = registry();
    const leases = await Promise.all([tails.acquire(at('a')), tails.acquire(at('a')), tails.acquire(at('a'))]);
    expect(new Set(leases.map((l) => l.tail)).size).toBe(1);
    expect(store.calls.files).toBe(1);
    expect(exec.loaded.size).toBe(1);
    expect(tails.loadedBytes).toBe(100);
  });

  it('evicts the least recently used idle tail to fit a new one, never a pinned one', async () => {
    const { tails, exec, tick } = registry(250);
    const a = await tails.acquire(at('a'));
    tick(1);
    const b = await tails.acquire(at('b'));
    tick(1);
    b.release();
    tick(1);
    a.release(); // a is now more recently used than b
    await tails.acquire(at('c'));
    expect(exec.unloaded).toEqual([2]); // b's session
    expect(tails.loadedCount).toBe(2);
    expect(tails.loadedBytes).toBe(200);
  });

  it('answers overloaded when every loaded tail is pinned and the budget is full', async () => {
    const { tails } = registry(200);
    await tails.acquire(at('a'));
    await tails.acquire(at('b'));
    const error = await failure(tails.acquire(at('c')));
    expect(error.code).toBe('overloaded');
    expect(tails.loadedBytes).toBe(200);
  });
});
