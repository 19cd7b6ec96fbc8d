import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildCandidates } from '../src/graph/candidates.js';
import { specToValueInfo } from '../src/graph/graph-surgery.js';
import { indexGraph } from '../src/graph/graph-index.js';
import { probeTensorShapes } from '../src/graph/shape-probe.js';
import {
  assertInputShapesFixed,
  fixInputShapes,
  parseInputShapeFlag,
  parseInputShapeFlags,
} from '../src/onnx/input-shapes.js';
import { OnnxModelError } from '../src/onnx/onnx-errors.js';
import { parseOnnxModel } from '../src/onnx/onnx-model.js';
import { create, decodeModel, encodeModel, OnnxSchema } from '../src/onnx/onnx-schema.js';
import { GraphBuilder, expectExact } from './model-fixtures.js';

/** A conv net whose input is [batch, 3, height, width]: only the batch may stay symbolic for Cleave. */
function dynamicConvNet(batch = 'N') {
  const g = new GraphBuilder(9);
  const x = g.input('images', 'float32', [batch, 3, 'height', 'width']);
  const a = g.op('Relu', [g.conv(x, 3, 4, 3, { stride: 2 })]);
  const b = g.op('Relu', [g.conv(a, 4, 4, 3)]);
  g.op('GlobalAveragePool', [g.op('Add', [a, b])], {}, ['out']);
  g.output('out', 'float32', [batch, 4, 1, 1]);
  const mask = g.input('mask', 'int64', ['N', 'seq']);
  g.op('Cast', [mask], { to: 1 }, ['mask_out']);
  g.output('mask_out', 'float32', ['N', 'seq']);
  return g.build('dynamic.onnx');
}

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OnnxModelError);
    return `${(err as OnnxModelError).code}: ${(err as Error).message}`;
  }
  throw new Error('expected an error');
};

describe('--input-shape: parsing', () => {
  it('parses NAME=DIMS (x or , separated; the name is everything before the last =)', () => {
    expect(parseInputShapeFlag('images=3x640x640')).toEqual({ name: 'images', dims: [3, 640, 640] });
    expect(parseInputShapeFlag('input.1=3,224,224')).toEqual({ name: 'input.1', dims: [3, 224, 224] });
    expect(parseInputShapeFlag('a=b=64')).toEqual({ name: 'a=b', dims: [64] });
  });

  it('rejects malformed values with one-line errors', () => {
    for (const text of ['images', 'images=', '=3x4']) {
      expect(codeOf(() => parseInputShapeFlag(text))).toMatch(
        /^bad_input_shape: --input-shape '.*': expected NAME=DIMS/,
      );
    }
    expect(codeOf(() => parseInputShapeFlag('images=3x0x640'))).toMatch(/dim '0' is not a positive integer/);
    expect(codeOf(() => parseInputShapeFlag('images=3xhx640'))).toMatch(/dim 'h' is not a positive integer/);
    expect(codeOf(() => parseInputShapeFlag('images=3x-2'))).toMatch(/dim '-2' is not a positive integer/);
    expect(codeOf(() => parseInputShapeFlags(['x=3', 'x=4']))).toMatch(/input 'x' is given twice/);
    for (const text of ['images', 'images=3x0', 'x=1.5'])
      expect(codeOf(() => parseInputShapeFlag(text))).not.toMatch(/\n/);
  });
});

describe('--input-shape: fixing a model', () => {
  it('refuses a model with dynamic dims besides the batch, naming the flag with an example for that input', async () => {
    const model = dynamicConvNet();
    const message = `dynamic.onnx: input 'images' has dynamic dims [N, 3, height, width]; fix them with --input-shape images=3x224x224 (the batch stays dynamic)`;
    expect(codeOf(() => assertInputShapesFixed(model))).toBe(`dynamic_input_shape: ${message}`);
    await expect(probeTensorShapes(indexGraph(model))).rejects.toThrow(message);
    // One symbolic dim after the batch is as dynamic: it is not the batch.
    const half = fixInputShapes(model, new Map([['images', [3, 16, 16]]]));
    expect(() => assertInputShapesFixed(half)).toThrow(
      "input 'mask' has dynamic dims [N, seq]; fix them with --input-shape mask=224 (the batch stays dynamic)",
    );
  });

  it('fixes the given dims, keeps the batch symbolic, re-encodes the bytes, and the model splits exactly', async () => {
    const original = dynamicConvNet();
    const model = fixInputShapes(original, parseInputShapeFlags(['images=3x16x16', 'mask=5']));
    expect(model.inputs.map((i) => i.shape)).toEqual([
      ['N', 3, 16, 16],
      ['N', 5],
    ]);
    expect(model.bytes).not.toBe(original.bytes);
    const session = await ort.InferenceSession.create(model.bytes);
    expect(session.inputNames).toEqual(['images', 'mask']);
    await session.release();
    expect(() => assertInputShapesFixed(model)).not.toThrow();
    const index = indexGraph(model);
    const probed = await probeTensorShapes(index);
    expect(probed.get('out')?.spec.shape).toEqual(['batch', 4, 1, 1]);
    const candidates = buildCandidates(index, probed);
    expect(candidates.filter((c) => c.kind === 'split').length).toBeGreaterThan(0);
    await expectExact(model, candidates);
  });

  it('drops value_info with fixed dims (they may describe another input size) so onnxruntime loads the model', async () => {
    const proto = decodeModel(dynamicConvNet().bytes);
    const relu = proto.graph!.node.find((n) => n.opType === 'Relu')!.output[0]!;
    const add = proto.graph!.node.find((n) => n.opType === 'Add')!.output[0]!;
    proto.graph!.valueInfo.push(
      specToValueInfo({ name: relu, dtype: 'float32', shape: ['N', 4, 50, 50] }),
      specToValueInfo({ name: add, dtype: 'float32', shape: ['N', 'c', 'h2', 'w2'] }),
    );
    const stale = parseOnnxModel(encodeModel(proto), 'stale.onnx');
    const model = fixInputShapes(
      stale,
      new Map([
        ['images', [3, 16, 16]],
        ['mask', [5]],
      ]),
    );
    expect(model.graph.valueInfo.map((v) => v.name)).toEqual([add]);
    const probed = await probeTensorShapes(indexGraph(model));
    expect(probed.get(relu)?.spec.shape).toEqual(['batch', 4, 8, 8]);
  });

  it('gives an unknown batch dim the name N, and an unchanged map returns the model as is', () => {
    // An exporter that names no batch dim: the dim has neither a value nor a name.
    const proto = decodeModel(dynamicConvNet().bytes);
    const dims = proto.graph!.input[0]!.type!.value.value as { shape: { dim: unknown[] } };
    dims.shape.dim[0] = create(OnnxSchema.TensorShapeProto_Dimension, {});
    const unnamed = parseOnnxModel(encodeModel(proto), 'unnamed.onnx');
    expect(unnamed.inputs[0]!.shape).toEqual([null, 3, 'height', 'width']);
    const model = fixInputShapes(unnamed, new Map([['images', [3, 8, 8]]]));
    expect(model.inputs[0]!.shape).toEqual(['N', 3, 8, 8]);
    const same = dynamicConvNet();
    expect(fixInputShapes(same, new Map())).toBe(same);
  });

  it('rejects an unknown input (listing the inputs), a wrong dim count, a bad dim and a conflict with a fixed dim', () => {
    const model = dynamicConvNet();
    const fix = (name: string, dims: number[]) => () => fixInputShapes(model, new Map([[name, dims]]));
    expect(codeOf(fix('image', [3, 8, 8]))).toBe(
      "bad_input_shape: dynamic.onnx: --input-shape image=3x8x8: the model has no input 'image' (inputs: images [N, 3, height, width], mask [N, seq])",
    );
    expect(codeOf(fix('images', [8, 8]))).toBe(
      "bad_input_shape: dynamic.onnx: --input-shape images=8x8: input 'images' has rank 4 [N, 3, height, width], so give 3 dims (all but the batch), e.g. images=3x224x224",
    );
    expect(codeOf(fix('mask', [2, 3]))).toMatch(
      /input 'mask' has rank 2 \[N, seq\], so give 1 dim \(all but the batch\), e\.g\. mask=224/,
    );
    expect(codeOf(fix('images', [3, 0, 8]))).toMatch(/dim 0 is not a positive integer/);
    expect(codeOf(fix('images', [4, 8, 8]))).toBe(
      "bad_input_shape: dynamic.onnx: --input-shape images=4x8x8: input 'images' [N, 3, height, width] fixes dim 1 at 3, not 4",
    );
  });
});
