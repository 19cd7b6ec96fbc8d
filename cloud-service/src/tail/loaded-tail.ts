import { allocateArray, isTensorDtype, type TailAddress, WireErrorCode } from '@cleave/proto';
import { ServeError } from '../service/serve-error.js';
import type { TailExecutor } from './ort-executor.js';
import { type BatchPolicy, createTailBatcher, type QueuedEntry } from './tail-batcher.js';
import {
  type CheckedInputs,
  type NamedTensor,
  scatterOutputs,
  stackInputs,
  type TailSignature,
} from './tensor-batch.js';

/** The outcome of one request's share of a batch run. Times are epoch ms on the service clock. */
export interface TailResult {
  readonly outputs: readonly NamedTensor[];
  readonly enqueuedAt: number;
  readonly startedAt: number;
  readonly finishedAt: number;
  /** Requests in the batch. */
  readonly batchSize: number;
  /** Samples (sum of dim 0) in the batch. */
  readonly batchSamples: number;
}

/** Told about each batch run, for metrics. */
export type BatchObserver = (tail: TailAddress, batch: { requests: number; samples: number; runMs: number }) => void;

/** A tail session in the executor plus its batcher. */
export interface LoadedTail {
  readonly address: TailAddress;
  readonly signature: TailSignature;
  /** Size of the tail ONNX file, the unit of the memory budget. */
  readonly bytes: number;
  /** Queues a checked request; undefined when the tail's queue is full. */
  submit(inputs: CheckedInputs, deadline: number | undefined): Promise<TailResult> | undefined;
  readonly depth: number;
  readonly busy: boolean;
  flush(): void;
  idle(): Promise<void>;
  /**
   * Runs the session once on zeros (one sample; symbolic dims taken as 1), outside the batcher, so that the first
   * request does not pay for onnxruntime's lazy allocations. Throws when an input is not a wire tensor type.
   */
  warm(): Promise<void>;
  /** Fails queued requests (`unavailable`), waits for a running batch, then unloads the session. */
  close(): Promise<void>;
}

interface Waiting {
  readonly inputs: CheckedInputs;
  resolve(result: TailResult): void;
  reject(error: ServeError): void;
}

/** Dependencies of {@link createLoadedTail}. */
export interface LoadedTailDeps {
  readonly address: TailAddress;
  readonly signature: TailSignature;
  /** Outputs each run computes and replies with. @default every output of the session */
  readonly fetches?: readonly string[];
  readonly bytes: number;
  readonly session: number;
  readonly executor: TailExecutor;
  readonly policy: BatchPolicy;
  readonly now: () => number;
  readonly onBatch?: BatchObserver;
}

/** Wraps a loaded session with Triton-style dynamic batching. Tails that cannot stack run one request at a time. */
export function createLoadedTail(deps: LoadedTailDeps): LoadedTail {
  const { address, signature, executor, now } = deps;
  const label = `${address.model}@${address.version}/${address.split}`;
  const policy = signature.batchable ? deps.policy : { ...deps.policy, maxBatchSize: 1 };

  async function runBatch(batch: readonly QueuedEntry<Waiting>[], release: () => void): Promise<void> {
    const startedAt = now();
    const samples = batch.map((entry) => entry.samples);
    try {
      const feeds = stackInputs(
        signature,
        batch.map((entry) => entry.item.inputs),
      );
      const outputs = await executor.run(deps.session, feeds, deps.fetches);
      const finishedAt = now();
      release(); // the next batch goes to onnxruntime before these replies are encoded
      const pieces = scatterOutputs(outputs, samples);
      const batchSamples = samples.reduce((a, b) => a + b, 0);
      deps.onBatch?.(address, { requests: batch.length, samples: batchSamples, runMs: finishedAt - startedAt });
      batch.forEach((entry, i) =>
        entry.item.resolve({
          outputs: pieces[i]!,
          enqueuedAt: entry.enqueuedAt,
          startedAt,
          finishedAt,
          batchSize: batch.length,
          batchSamples,
        }),
      );
    } catch (error) {
      const failure = new ServeError(
        WireErrorCode.Internal,
        `tail ${label} failed on a batch of ${batch.length}: ${(error as Error).message}`,
        { cause: error },
      );
      for (const entry of batch) entry.item.reject(failure);
    }
  }

  const batcher = createTailBatcher<Waiting>({
    policy,
    now,
    runBatch,
    drop: (entry, reason) =>
      entry.item.reject(
        reason === 'expired'
          ? new ServeError(
              WireErrorCode.DeadlineExceeded,
              `deadline passed after ${(now() - entry.enqueuedAt).toFixed(1)} ms in the queue of ${label}`,
            )
          : new ServeError(WireErrorCode.Unavailable, `tail ${label} was unloaded; retry`),
      ),
  });

  return {
    address,
    signature,
    bytes: deps.bytes,
    submit(inputs, deadline) {
      let waiting: Waiting | undefined;
      const result = new Promise<TailResult>((resolve, reject) => {
        waiting = { inputs, resolve, reject };
      });
      return batcher.offer(waiting!, inputs.samples, deadline) ? result : undefined;
    },
    get depth() {
      return batcher.depth;
    },
    get busy() {
      return batcher.busy;
    },
    flush: () => batcher.flush(),
    idle: () => batcher.idle(),
    async warm() {
      const feeds = signature.inputs.map((input): NamedTensor => {
        if (!isTensorDtype(input.dtype)) throw new Error(`input ${input.name} has dtype ${input.dtype}`);
        const dims = input.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
        const data = allocateArray(
          input.dtype,
          dims.reduce((a, b) => a * b, 1),
        );
        return { name: input.name, dtype: input.dtype, dims, data };
      });
      await executor.run(deps.session, feeds, deps.fetches);
    },
    async close() {
      batcher.close();
      await batcher.idle();
      await executor.unload(deps.session).catch(() => undefined);
    },
  };
}
