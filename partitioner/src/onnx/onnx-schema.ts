import onnxProto from 'onnx-proto';

/**
 * The generated ONNX protobuf codecs (onnx-proto, built on protobufjs). The package is CommonJS, so
 * its namespace is only reachable as a value through the default export; types come from `onnx`.
 */
export const OnnxSchema = onnxProto.onnx;
export type { onnx } from 'onnx-proto';
