// Gentle rollouts: a bundle download can be paced (a byte-rate limit, read again for every chunk) and cancelled
// (the partial directory is removed), and an agent's bundle manager cancels the download of a version that is no
// longer wanted (a rollback or a newer promotion) and fetches the wanted one instead, reporting progress meanwhile.
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { bucketNames } from '@cleave/proto';
import { BundleStoreError, fetchBundle, publishBundle } from '@cleave/node-runtime';
import { createBundleCache } from '../../edge-agent/src/bundle/bundle-cache.js';
import { type BundleDownload, createBundleManager } from '../../edge-agent/src/bundle/bundle-manager.js';
import { syntheticManifest } from '../../edge-agent/tests/synthetic-manifest.js';
import { rewriteManifest, testBundleTrust, useTestNats } from '../harness/mod.js';

const nats = useTestNats();
let nc: NatsConnection;
let work: string;

const KiB = 1024;
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Writes and publishes a synthetic bundle whose model file has `modelBytes` random bytes, signed by the test
 * publisher; `name` only names its directory. Returns its version, derived from the content.
 */
async function publishSynthetic(name: string, modelBytes: number, makeCurrent: boolean): Promise<string> {
  const version = 'v000000000000'; // replaced by the content-derived version
  const dir = join(work, 'src', name);
  const base = JSON.parse(JSON.stringify(syntheticManifest(version))) as {
    model: { sha256: string };
    files: Record<string, { sha256: string; bytes: number }>;
  };
  for (const path of Object.keys(base.files)) {
    const bytes = randomBytes(path === 'model.onnx' ? modelBytes : 4 * KiB);
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), bytes);
    base.files[path] = { sha256: sha(bytes), bytes: bytes.byteLength };
    if (path === 'model.onnx') base.model.sha256 = sha(bytes);
  }
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(base, null, 2)}\n`);
  const signed = await rewriteManifest(dir, () => undefined);
  await publishBundle(nc, dir, { prefix: nats().prefix, makeCurrent });
  return signed.manifest.version;
}

let v1: string;

/** Polls `probe` until it returns something (5 s at most). */
async function waitFor<T>(probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  nc = await connect({ servers: nats().url });
  work = await mkdtemp(join(tmpdir(), 'cleave-pacing-'));
  v1 = await publishSynthetic('v1', 1024 * KiB, false);
});

afterAll(async () => {
  await nc?.close();
  await rm(work, { recursive: true, force: true });
});

describe('bundle download pacing and cancellation', () => {
  it('keeps a ~1 MB fetch under 200 KiB/s (≥ 4 s) and reports its progress', async () => {
    const progress: { bytesDone: number; bytesTotal: number }[] = [];
    const started = performance.now();
    const fetched = await fetchBundle(nc, 'synth', v1, join(work, 'paced'), {
      prefix: nats().prefix,
      maxBytesPerSecond: 200 * KiB,
      onProgress: (p) => progress.push(p),
    });
    const elapsed = performance.now() - started;
    expect(fetched.bytesDownloaded).toBeGreaterThan(1024 * KiB);
    expect(elapsed).toBeGreaterThanOrEqual(4000);
    expect(elapsed).toBeLessThan(9000);
    const total = 1024 * KiB + 2 * 4 * KiB;
    expect(progress.length).toBeGreaterThan(8);
    expect(progress.every((p) => p.bytesTotal === total)).toBe(true);
    expect(progress.at(-1)?.bytesDone).toBe(total);
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i]!.bytesDone).toBeGreaterThanOrEqual(progress[i - 1]!.bytesDone);
    }
  }, 15_000);

  it('cancels a fetch when its signal aborts: rejects cancelled and leaves nothing behind', async () => {
    const parent = join(work, 'cancel');
    await mkdir(parent, { recursive: true });
    const controller = new AbortController();
    let done = 0;
    const fetching = fetchBundle(nc, 'synth', v1, join(parent, 'v1'), {
      prefix: nats().prefix,
      maxBytesPerSecond: 256 * KiB,
      onProgress: (p) => {
        done = p.bytesDone;
      },
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(new Error('rolled back')), 600);
    const started = performance.now();
    const error = await fetching.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(performance.now() - started).toBeLessThan(2000);
    expect(error).toBeInstanceOf(BundleStoreError);
    expect((error as BundleStoreError).code).toBe('cancelled');
    expect((error as Error).message).toMatch(/rolled back/);
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(1024 * KiB);
    expect(await readdir(parent)).toEqual([]);
  });

  it('the bundle manager cancels a download whose version is no longer wanted and fetches the new one', async () => {
    const logs: { fields: Record<string, unknown>; message: string }[] = [];
    const record = (fields: object, message: string) =>
      logs.push({ fields: fields as Record<string, unknown>, message });
    const manager = createBundleManager({
      models: ['synth'],
      prefix: nats().prefix,
      cache: createBundleCache(join(work, 'agent'), testBundleTrust()),
      intraOpThreads: 1,
      logger: { info: record, warn: record, error: record },
      now: () => performance.now(),
      warm: () => Promise.resolve(),
      onSwap: () => undefined,
      onError: () => undefined,
      retryMs: 200,
      maxDownloadBytesPerSecond: () => 128 * KiB,
    });
    try {
      const v2 = await publishSynthetic('v2', 1024 * KiB, true);
      manager.attach(nc);
      const seen: BundleDownload = await waitFor(() =>
        manager.downloads().find((d) => d.version === v2 && d.bytesDone > 0),
      );
      expect(seen).toMatchObject({ model: 'synth', version: v2, bytesTotal: 1024 * KiB + 8 * KiB });
      expect(seen.percent).toBeGreaterThan(0);
      expect(seen.percent).toBeLessThan(100);

      // A newer, small version is promoted while v2 is still downloading.
      const v3 = await publishSynthetic('v3', 16 * KiB, true);
      await manager.whenServing('synth', v3);
      const cancelled = logs.find((l) => l.message === 'download cancelled');
      expect(cancelled?.fields).toMatchObject({ model: 'synth', version: v2, wanted: v3 });
      expect(logs.some((l) => l.message === 'bundle update failed; retrying')).toBe(false);
      expect(manager.downloads()).toEqual([]);
      expect(manager.current('synth')?.version).toBe(v3);

      // A rollback while v4 downloads: the download stops and v3 keeps serving, with no v4 left in the cache.
      const v4 = await publishSynthetic('v4', 1024 * KiB, true);
      const v4Download = await waitFor(() => manager.downloads().find((d) => d.version === v4 && d.bytesDone > 0));
      expect(v4Download.percent).toBeLessThan(100);
      const kv = await new Kvm(nc).open(bucketNames(nats().prefix).current);
      await kv.put('synth', v3);
      await waitFor(() => (manager.downloads().length === 0 ? true : undefined));
      const rolledBack = logs.filter((l) => l.message === 'download cancelled').at(-1);
      expect(rolledBack?.fields).toMatchObject({ model: 'synth', version: v4, wanted: v3 });
      expect(manager.current('synth')?.version).toBe(v3);
      const v4Dir = join(work, 'agent', 'bundles', 'synth', v4);
      expect(
        await access(v4Dir).then(
          () => true,
          () => false,
        ),
      ).toBe(false);
      expect((await readdir(join(work, 'agent', 'bundles', 'synth'))).filter((n) => n.includes('partial'))).toEqual([]);
    } finally {
      await manager.close();
    }
  }, 20_000);
});
