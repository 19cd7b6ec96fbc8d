// A shared-weights bundle whose directory lacks a file a candidate needs (agents may fetch only some candidates'
// files) fails with a clear `not_ready` naming the candidate and the file, before onnxruntime is asked.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '@cleave/node-runtime';
import type { BundleManifest } from '@cleave/proto';
import { loadBundle } from '../src/bundle/loaded-bundle.js';
import { EdgeAgentError } from '../src/edge-agent-error.js';
import { syntheticManifest } from './synthetic-manifest.js';

const GRAPH = new TextEncoder().encode('not really onnx');

/** The synthetic bundle in the shared-weights layout: flat graph files beside `weights.bin`. */
function sharedWeightsManifest(): BundleManifest {
  const base = syntheticManifest();
  const entry = { sha256: sha256Hex(GRAPH), bytes: GRAPH.byteLength };
  const files = Object.fromEntries(
    ['model.onnx', 'split-a.head.onnx', 'split-a.tail.onnx', 'weights.bin'].map((p) => [p, entry]),
  );
  const graphs: Record<string, { head: string | null; tail: string | null }> = {
    'edge-only': { head: 'model.onnx', tail: null },
    'split-a': { head: 'split-a.head.onnx', tail: 'split-a.tail.onnx' },
    'cloud-only': { head: null, tail: 'model.onnx' },
  };
  return {
    ...base,
    weights: { file: 'weights.bin', tensors: 1 },
    files,
    candidates: base.candidates.map((c) => {
      const { head, tail } = graphs[c.id]!;
      return { ...c, head, tail, files: [head, tail, 'weights.bin'].filter((f): f is string => f !== null) };
    }),
  };
}

async function bundleDir(present: readonly string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cleave-edge-files-'));
  for (const file of present) await writeFile(join(dir, file), GRAPH);
  return dir;
}

async function failure(promise: Promise<unknown>): Promise<EdgeAgentError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EdgeAgentError);
  return error as EdgeAgentError;
}

const open = (dir: string) =>
  loadBundle({ dir, manifest: sharedWeightsManifest(), intraOpThreads: 1, now: () => performance.now() });

describe('loaded bundle: files a candidate needs', () => {
  it('names the candidate and the graph file when the graph was not fetched', async () => {
    const dir = await bundleDir(['model.onnx', 'weights.bin']);
    const error = await failure(open(dir).session('split-a.tail.onnx'));
    expect(error.code).toBe('not_ready');
    expect(error.message).toMatch(
      /candidate split-a \(split-a\.tail\.onnx\) needs split-a\.tail\.onnx, which is not in/,
    );
  });

  it('names the candidate and the weights file when the weights were not fetched', async () => {
    const dir = await bundleDir(['split-a.head.onnx', 'split-a.tail.onnx']);
    const error = await failure(open(dir).prepare('split-a'));
    expect(error.code).toBe('not_ready');
    expect(error.message).toMatch(/candidate split-a \(split-a\.head\.onnx\) needs weights\.bin, which is not in/);
    const whole = await failure(open(dir).session('model.onnx'));
    expect(whole.message).toMatch(/candidate edge-only, cloud-only \(model\.onnx\) needs model\.onnx/);
  });

  it('hands a graph with its files present to onnxruntime', async () => {
    const dir = await bundleDir(['split-a.head.onnx', 'split-a.tail.onnx', 'weights.bin']);
    const error = await open(dir)
      .session('split-a.tail.onnx')
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    // These bytes are no ONNX model: onnxruntime refuses them, which it is only asked to do when the files are there.
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(EdgeAgentError);
  });
});
