// A request larger than one batch runs as consecutive chunks of at most `maxBatchSize` samples, each through the
// tail's batcher like any request. onnxruntime then never sees more than one batch's worth of samples, so its
// activations stay the size of a normal batch, and the small requests that arrive meanwhile run between the chunks
// instead of waiting behind one huge run. Each chunk is decoded just before it is offered (see decodeChunk).
import type { LoadedTail, TailResult } from '../tail/loaded-tail.js';
import { type DecodeLimits, WireErrorCode } from '@cleave/proto';
import { type CheckedInputs, concatOutputs, decodeChunk, splitInputs } from '../tail/tensor-batch.js';
import { ServeError } from './serve-error.js';

/**
 * Runs `inputs` on `tail`, in chunks of at most `maxSamples` samples when the tail can batch (otherwise whole).
 * Each chunk is offered when the previous one finished. The result spans every chunk: queue time is the first
 * chunk's, run time from the first start to the last finish, batch size the largest batch. Throws `overloaded`
 * when the tail's queue is full.
 */
export async function runInChunks(
  tail: LoadedTail,
  inputs: CheckedInputs,
  deadline: number | undefined,
  maxSamples: number,
  limits?: DecodeLimits,
): Promise<TailResult> {
  const chunks = tail.signature.batchable ? splitInputs(inputs, maxSamples) : [inputs];
  const results: TailResult[] = [];
  for (const chunk of chunks) {
    // An f16/int8 request larger than a run arrives still encoded: each chunk is decoded only when its turn comes.
    const pending = tail.submit(decodeChunk(chunk, limits), deadline);
    if (pending === undefined) {
      const { model, version, split } = tail.address;
      throw new ServeError(
        WireErrorCode.Overloaded,
        `queue of tail ${model}@${version}/${split} is full; back off and retry`,
      );
    }
    results.push(await pending);
  }
  const first = results[0]!;
  if (results.length === 1) return first;
  return {
    outputs: concatOutputs(results.map((r) => r.outputs)),
    enqueuedAt: first.enqueuedAt,
    startedAt: first.startedAt,
    finishedAt: results.at(-1)!.finishedAt,
    batchSize: Math.max(...results.map((r) => r.batchSize)),
    batchSamples: Math.max(...results.map((r) => r.batchSamples)),
  };
}
