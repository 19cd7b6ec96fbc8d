// Messages between the service and its onnxruntime worker thread. Tensor arrays travel as transferables.
import type { NamedTensor, TensorSlot } from './tensor-batch.js';

/** onnxruntime settings of the worker's sessions. */
export interface OrtSessionSettings {
  /** Intra-op threads per session; 0 lets onnxruntime use every core. */
  readonly intraOpNumThreads: number;
  /** Inter-op threads per session. */
  readonly interOpNumThreads: number;
  /**
   * Let idle onnxruntime threads spin for work. Spinning shaves microseconds off a run but burns the cores the
   * service's event loop and nats-server need, so replicas default to off.
   */
  readonly allowSpinning: boolean;
  /**
   * Keep onnxruntime's CPU memory arena and memory patterns. The arena keeps the largest working set any run
   * needed for the session's lifetime, so a burst of big batches would hold its memory long after; replicas default
   * to off and return activations to the allocator after each run. @default false
   */
  readonly memoryArena?: boolean;
}

/** onnxruntime graph optimisation levels a bundle may prescribe. */
export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';

/** Per-session options of a load, from the bundle's manifest (`model.sessionOptions`). */
export interface LoadOptions {
  /** @default 'all', onnxruntime's own default */
  readonly graphOptimizationLevel?: GraphOptimizationLevel;
}

/** Service → worker. */
export type ExecutorRequest =
  | {
      readonly op: 'load';
      readonly id: number;
      /**
       * The graph's bytes, or the path of its file. A graph that keeps its weights in a separate file (ONNX external
       * data) is loaded by path: onnxruntime resolves the weights' location against the graph's directory and maps
       * the file, so the sessions of every tail reading it share its pages.
       */
      readonly model: Uint8Array | string;
      readonly options?: LoadOptions;
    }
  | {
      readonly op: 'run';
      readonly id: number;
      readonly session: number;
      readonly feeds: readonly NamedTensor[];
      /** Outputs to compute and return, in this order. @default every output of the session */
      readonly fetches?: readonly string[];
    }
  | { readonly op: 'unload'; readonly id: number; readonly session: number };

/** A session the worker has loaded. */
export interface LoadedSession {
  readonly session: number;
  readonly inputs: readonly TensorSlot[];
  readonly outputs: readonly TensorSlot[];
}

/** Worker → service: the result of request `id`, or why it failed. */
export type ExecutorReply =
  | { readonly id: number; readonly ok: true; readonly loaded?: LoadedSession; readonly outputs?: NamedTensor[] }
  | { readonly id: number; readonly ok: false; readonly error: string };
