import { describe, expect, it } from 'vitest';
import { exitConfidence, type TensorSpec } from '@cleave/proto';
import { EdgeAgentError } from '../src/edge-agent-error.js';
import { decideEarlyExit } from '../src/runtime/exit-decision.js';
import { checkInputs } from '../src/runtime/input-validation.js';
import type { AgentTensor } from '../src/runtime/tensor-io.js';

const rows = (name: string, values: number[][]): AgentTensor => ({
  name,
  dtype: 'float32',
  dims: [values.length, values[0]!.length],
  data: Float32Array.from(values.flat()),
});

describe('early exit decision', () => {
  // Sample 0 is confident at exit_1, sample 1 only at exit_2.
  const exit1 = rows('exit_1', [
    [9, 0, 0],
    [1, 1, 0],
  ]);
  const exit2 = rows('exit_2', [
    [0, 9, 0],
    [0, 0, 9],
  ]);
  const tensors = new Map([
    ['exit_1', exit1],
    ['exit_2', exit2],
  ]);

  it('each sample leaves at its first confident exit; the request reports the deepest', () => {
    const answer = decideEarlyExit({ names: ['exit_1', 'exit_2'], tensors }, { exit_1: 0.9, exit_2: 0.9 }, 'max-prob');
    expect(answer?.perSample).toEqual(['exit_1', 'exit_2']);
    expect(answer?.exit).toBe('exit_2');
    expect(Array.from(answer!.logits)).toEqual([9, 0, 0, 0, 0, 9]);
  });

  it('one hard sample sends the whole request on; null thresholds never exit', () => {
    expect(decideEarlyExit({ names: ['exit_1'], tensors }, { exit_1: 0.9 }, 'max-prob')).toBeUndefined();
    expect(
      decideEarlyExit({ names: ['exit_1', 'exit_2'], tensors }, { exit_1: null, exit_2: null }, 'max-prob'),
    ).toBeUndefined();
  });

  it('applies the calibration measure exactly (margin vs entropy)', () => {
    const logits = Float32Array.of(2, 1, 0);
    const margin = exitConfidence(logits, 0, 3, 'margin');
    const single = new Map([['e', rows('e', [[2, 1, 0]])]]);
    expect(decideEarlyExit({ names: ['e'], tensors: single }, { e: margin }, 'margin')?.exit).toBe('e');
    expect(decideEarlyExit({ names: ['e'], tensors: single }, { e: margin + 1e-6 }, 'margin')).toBeUndefined();
    expect(exitConfidence(Float32Array.of(5, 5), 0, 2, 'entropy')).toBeCloseTo(0, 6);
  });
});

describe('input validation: expected failures, each a clear 4xx', () => {
  const specs: TensorSpec[] = [
    { name: 'input', dtype: 'float32', shape: ['N', 1, 2, 2] },
    { name: 'mask', dtype: 'int64', shape: ['N', 2] },
  ];
  const good = {
    input: { dims: [2, 1, 2, 2], data: Array.from({ length: 8 }, (_, i) => i / 8) },
    mask: { dims: [2, 2], data: [1, 0, 1, 1] },
  };
  const failure = (inputs: unknown): EdgeAgentError => {
    try {
      checkInputs(specs, inputs as never, { maxElements: 64 });
    } catch (error) {
      if (error instanceof EdgeAgentError) return error;
      throw error;
    }
    throw new Error('expected an EdgeAgentError');
  };

  it('accepts well-formed inputs, in the model order, with typed arrays', () => {
    const out = checkInputs(specs, { mask: good.mask, input: good.input }, { maxElements: 64 });
    expect(out.map((t) => [t.name, t.dtype, t.data.constructor.name])).toEqual([
      ['input', 'float32', 'Float32Array'],
      ['mask', 'int64', 'BigInt64Array'],
    ]);
  });

  it('accepts little-endian bytes as data (msgpack bins)', () => {
    const bytes = new Uint8Array(Float32Array.from(good.input.data).buffer);
    const [input] = checkInputs(specs, { ...good, input: { dims: [2, 1, 2, 2], data: bytes } }, { maxElements: 64 });
    expect(Array.from(input!.data as Float32Array)).toEqual(Array.from(Float32Array.from(good.input.data)));
  });

  it.each([
    ['missing input', { input: good.input }, 'bad_input', /request has missing \[mask\]/],
    ['unknown input', { ...good, extra: good.mask }, 'bad_input', /unknown \[extra\]/],
    [
      'wrong rank',
      { ...good, input: { dims: [2, 4], data: good.input.data } },
      'bad_shape',
      /must have shape \[N, 1, 2, 2\]; got \[2, 4\]/,
    ],
    [
      'wrong fixed dim',
      { ...good, input: { dims: [2, 2, 2, 1], data: good.input.data } },
      'bad_shape',
      /must have shape/,
    ],
    ['short data', { ...good, input: { dims: [2, 1, 2, 2], data: [1, 2] } }, 'bad_shape', /has 2 values but dims/],
    [
      'batch mismatch',
      { ...good, mask: { dims: [3, 2], data: [1, 0, 1, 1, 0, 0] } },
      'bad_shape',
      /share the batch size/,
    ],
    ['wrong dtype', { ...good, input: { ...good.input, dtype: 'int32' } }, 'bad_dtype', /must be float32; got int32/],
    ['strings', { ...good, input: { dims: [1, 1, 2, 2], data: ['a', 1, 2, 3] } }, 'bad_dtype', /data\[0\] is a string/],
    [
      'fractional int',
      { ...good, mask: { dims: [2, 2], data: [1, 0.5, 1, 1] } },
      'bad_dtype',
      /data\[1\] is not an integer/,
    ],
    ['too many elements', { ...good, input: { dims: [100, 1, 2, 2], data: [] } }, 'too_large', /more than 64 elements/],
    ['inputs not an object', 'x', 'bad_body', /"inputs" must be an object/],
  ])('%s', (_name, inputs, code, message) => {
    const error = failure(inputs);
    expect(error.name).toBe('EdgeAgentError');
    expect(error.code).toBe(code);
    expect(error.status).toBeGreaterThanOrEqual(400);
    expect(error.status).toBeLessThan(500);
    expect(error.message).toMatch(message);
  });
});
