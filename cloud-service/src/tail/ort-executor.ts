import { Worker } from 'node:worker_threads';
import type {
  ExecutorReply,
  ExecutorRequest,
  LoadedSession,
  LoadOptions,
  OrtSessionSettings,
} from './executor-protocol.js';
import type { NamedTensor } from './tensor-batch.js';

/** Runs tail sessions somewhere other than the service's event loop. */
export interface TailExecutor {
  /**
   * Loads an ONNX model, from its bytes (transferred, do not reuse them) or from the path of its file (when its
   * weights are in a file beside it), with the bundle's session options, and returns its session.
   */
  load(model: Uint8Array | string, options?: LoadOptions): Promise<LoadedSession>;
  /**
   * Runs a session on stacked inputs (their buffers are transferred) and returns the `fetches` outputs in that order
   * (every output of the session, in its order, when `fetches` is left out).
   */
  run(session: number, feeds: readonly NamedTensor[], fetches?: readonly string[]): Promise<NamedTensor[]>;
  unload(session: number): Promise<void>;
  /** Registers a listener for the loss of every session (the worker died); later calls start a fresh worker. */
  onReset(listener: (error: Error) => void): void;
  close(): Promise<void>;
}

interface Pending {
  resolve(reply: ExecutorReply & { ok: true }): void;
  reject(error: Error): void;
}

// A worker thread is a program of its own, and Node cannot run TypeScript: when this module runs from its source
// (the test suites load workspaces through the `source` export condition), the worker is the compiled one in dist,
// started without the parent's `--conditions source` so that it resolves workspace packages to compiled code too.
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = FROM_SOURCE
  ? new URL('../../dist/tail/ort-worker.js', import.meta.url)
  : new URL('./ort-worker.js', import.meta.url);
const WORKER_EXEC_ARGV = FROM_SOURCE ? { execArgv: [] } : {};

/** Creates an executor backed by one onnxruntime worker thread, started on first use. */
export function createOrtExecutor(settings: OrtSessionSettings): TailExecutor {
  let worker: Worker | undefined;
  let closed = false;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  const resetListeners: ((error: Error) => void)[] = [];

  function fail(current: Worker, error: Error): void {
    if (worker !== current) return;
    worker = undefined;
    for (const p of pending.values()) p.reject(error);
    pending.clear();
    if (!closed) for (const listener of resetListeners) listener(error);
  }

  function ensureWorker(): Worker {
    if (closed) throw new Error('the tail executor is closed');
    if (worker !== undefined) return worker;
    const current = new Worker(WORKER_URL, { workerData: settings, ...WORKER_EXEC_ARGV });
    current.unref(); // the service's NATS connection, not an idle worker, decides when the process may exit
    current.on('message', (reply: ExecutorReply) => {
      const p = pending.get(reply.id);
      if (p === undefined) return;
      pending.delete(reply.id);
      if (reply.ok) p.resolve(reply);
      else p.reject(new Error(reply.error));
    });
    current.on('error', (error) => fail(current, error));
    current.on('exit', (code) => fail(current, new Error(`onnxruntime worker exited with code ${code}`)));
    worker = current;
    return current;
  }

  function call(request: ExecutorRequest, transfer: ArrayBuffer[]): Promise<ExecutorReply & { ok: true }> {
    return new Promise((resolve, reject) => {
      const target = ensureWorker();
      pending.set(request.id, { resolve, reject });
      try {
        target.postMessage(request, transfer);
      } catch (error) {
        pending.delete(request.id);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  return {
    async load(model, options) {
      const buffer =
        typeof model !== 'string' && model.byteOffset === 0 && model.byteLength === model.buffer.byteLength
          ? model.buffer
          : undefined;
      const reply = await call(
        { op: 'load', id: nextId++, model, ...(options === undefined ? {} : { options }) },
        buffer instanceof ArrayBuffer ? [buffer] : [],
      );
      if (reply.loaded === undefined) throw new Error('onnxruntime worker returned no session');
      return reply.loaded;
    },
    async run(session, feeds, fetches) {
      const transfer = new Set<ArrayBuffer>();
      for (const { data } of feeds) {
        // Only whole buffers are handed over; a view on a larger buffer is copied, never detached under its owner.
        if (data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) {
          transfer.add(data.buffer);
        }
      }
      const reply = await call(
        { op: 'run', id: nextId++, session, feeds, ...(fetches === undefined ? {} : { fetches }) },
        [...transfer],
      );
      return reply.outputs ?? [];
    },
    async unload(session) {
      if (worker === undefined) return; // sessions died with the worker
      await call({ op: 'unload', id: nextId++, session }, []);
    },
    onReset(listener) {
      resetListeners.push(listener);
    },
    async close() {
      closed = true;
      const current = worker;
      worker = undefined;
      for (const p of pending.values()) p.reject(new Error('the tail executor is closed'));
      pending.clear();
      await current?.terminate();
    },
  };
}
