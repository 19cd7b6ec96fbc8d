// How long the edge takes to put a candidate's cut tensors on the wire with each codec: int8 quantisation of a
// large activation costs real CPU on a slow gateway (tens of ms for a 224×224×3 input at a quarter core), and a
// plan that ignores it picks int8 where f32 would have been faster.
import type ort from 'onnxruntime-node';
import { encodeTensor, FLOAT_DTYPE, mapCodecs, type PerCodec } from '@cleave/proto';

/**
 * Median time to encode all of `tensors` (the real cut tensors, as the head produced them) with each codec, over
 * `runs` timed runs after one untimed one. Non-float tensors travel raw under every codec and are skipped.
 */
export function timeEncoding(tensors: readonly (readonly [string, ort.Tensor])[], runs: number): PerCodec<number> {
  const floats = tensors.filter(([, t]) => t.type === FLOAT_DTYPE);
  return mapCodecs((codec) => {
    const samples: number[] = [];
    for (let r = 0; r <= runs; r += 1) {
      const started = performance.now();
      for (const [name, t] of floats) encodeTensor(name, t.data as Float32Array, t.dims, codec);
      if (r > 0) samples.push(performance.now() - started);
    }
    samples.sort((a, b) => a - b);
    return Math.round(samples[Math.floor(samples.length / 2)]! * 1000) / 1000;
  });
}
