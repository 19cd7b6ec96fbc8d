import { describe, expect, it } from 'vitest';
import { DTYPE_SPECS, ELEMENT_TYPES } from '@cleave/proto';
import { TensorProto_DataType } from '../src/onnx/onnx-schema.js';
import { dataTypeName } from '../src/onnx/onnx-model.js';

// proto cannot import the ONNX schema (it is isomorphic and small), so its element type numbers are checked here.
describe('element type registry against the ONNX schema', () => {
  it('numbers every element type as onnx.TensorProto.DataType does', () => {
    const expected = {
      float32: TensorProto_DataType.FLOAT,
      int64: TensorProto_DataType.INT64,
      int32: TensorProto_DataType.INT32,
      uint8: TensorProto_DataType.UINT8,
      float16: TensorProto_DataType.FLOAT16,
      float64: TensorProto_DataType.DOUBLE,
      int16: TensorProto_DataType.INT16,
      int8: TensorProto_DataType.INT8,
      bool: TensorProto_DataType.BOOL,
    };
    expect(Object.fromEntries(ELEMENT_TYPES.map((n) => [n, DTYPE_SPECS[n].onnxElemType]))).toEqual(expected);
    expect(dataTypeName(TensorProto_DataType.DOUBLE)).toBe('float64');
    expect(dataTypeName(TensorProto_DataType.STRING)).toBe('type8');
  });
});
