/** Messages between the bench (parent) and the edge worker it runs under a CPU quota, over Node's IPC channel. */
import type { InputKind } from './bench-images.js';
import type { Strategy } from './cell-stats.js';
import type { RequestAnswer } from './final-answers.js';

/** Strategies that talk to the cloud, each over its own emulated link. */
export type NetworkStrategy = Exclude<Strategy, 'edge-only'>;

/** A model as the worker needs it. */
export interface WorkerModel {
  readonly id: string;
  /** The whole model without exits: edge-only runs it. */
  readonly backbone: string;
  readonly kind: InputKind;
  readonly inputName: string;
  readonly bundleDir: string;
  readonly version: string;
  /** Whether to score predictions against labels (a classifier's primary output only). */
  readonly accuracy: boolean;
}

/** Parent → worker. */
export type ToWorker =
  | {
      readonly type: 'init';
      /** The strategy this worker (one emulated device) runs. */
      readonly strategy: Strategy;
      readonly prefix: string;
      readonly links: Readonly<Record<NetworkStrategy, string>>;
      readonly models: readonly WorkerModel[];
      readonly requestTimeoutMs: number;
      /**
       * Pause between preparing a run's images and its first timed request: two CFS periods of the device's quota,
       * so that the image work (upsampling, PNG) has not spent the period the request starts in.
       */
      readonly settleMs: number;
    }
  | {
      readonly type: 'run';
      readonly seq: number;
      readonly model: string;
      readonly strategy: Strategy;
      readonly offset: number;
      readonly n: number;
      /** The static split's candidate for this bandwidth. */
      readonly split?: string;
    }
  | {
      /**
       * Prepares the images of a cell's measured requests before any is timed, so that the runs spend the device's
       * quota, and the agent's idle probes spend the link, on requests only: preparing them inside a run put
       * the agent's background probes into its bytes per request.
       */
      readonly type: 'load';
      readonly seq: number;
      readonly model: string;
      readonly offset: number;
      readonly n: number;
    }
  | { readonly type: 'status'; readonly seq: number }
  | { readonly type: 'close' };

/** Results of a run of requests. */
export interface RunResult {
  readonly latencyMs: number[];
  readonly edgeComputeMs: number[];
  readonly correct: boolean[];
  /** Every final output of every request, in request order: the bench compares them with edge-only's. */
  readonly answers: RequestAnswer[];
  /** How each request was answered, e.g. `edge:exit_1`, `cloud:split-20/int8`, `fallback:...`. */
  readonly answeredBy: Record<string, number>;
  /** Payload bytes the requests put in messages (up + down), as the sender counted them. */
  messageBytes: number;
  /** CPU time the worker process (every thread) spent over the timed requests, ms. */
  cpuMs: number;
  /** Link probes Cleave's agent sent during the timed requests (0 for the other strategies). */
  probes: number;
}

/** Worker → parent. */
export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'ran'; readonly seq: number; readonly result: RunResult }
  | { readonly type: 'loaded'; readonly seq: number }
  | {
      readonly type: 'status';
      readonly seq: number;
      readonly mbps: number | null;
      readonly rttMs: number | null;
      readonly probes: number;
    }
  | { readonly type: 'failed'; readonly seq: number | null; readonly message: string };
