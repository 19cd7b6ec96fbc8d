import { OnnxModelError, OnnxModelErrorCode } from './onnx-errors.js';
import { encodeOnnxModel, parseOnnxModel, type OnnxModel, type TensorSpec } from './onnx-model.js';
import { create, OnnxSchema, withFields, type onnx } from './onnx-schema.js';

/** The flag that fixes input dims, as users type it. */
export const INPUT_SHAPE_FLAG = '--input-shape';

/** Stands in for an unknown dim in the example of an error message. */
const PLACEHOLDER_DIM = 224;

/** One `--input-shape NAME=D1xD2x...` value: the dims after the batch dim. */
export interface InputShapeFlag {
  readonly name: string;
  readonly dims: readonly number[];
}

const isKnownDim = (d: number | string | null | undefined): d is number => typeof d === 'number' && d > 0;

/** `x=3x224x224` for an input: its known dims after the batch, with a placeholder for unknown ones. */
export function inputShapeExample(spec: TensorSpec): string {
  const dims = spec.shape.slice(1).map((d) => (isKnownDim(d) ? d : PLACEHOLDER_DIM));
  return `${spec.name}=${(dims.length > 0 ? dims : [PLACEHOLDER_DIM]).join('x')}`;
}

const formatShape = (spec: TensorSpec): string => `[${spec.shape.map((d) => d ?? '?').join(', ')}]`;

/**
 * Parses one `--input-shape` value, `NAME=D1xD2x...` (the dims after the batch; `,` also separates).
 * The name is everything before the last `=`, so names with `.` or `:` work. Throws OnnxModelError
 * `bad_input_shape` with a one-line message.
 */
export function parseInputShapeFlag(text: string): InputShapeFlag {
  const at = text.lastIndexOf('=');
  const name = at < 0 ? '' : text.slice(0, at).trim();
  const list = at < 0 ? '' : text.slice(at + 1).trim();
  if (name === '' || list === '') {
    throw new OnnxModelError(
      OnnxModelErrorCode.BadInputShape,
      `${INPUT_SHAPE_FLAG} '${text}': expected NAME=DIMS, the dims after the batch, e.g. images=3x640x640`,
    );
  }
  const parts = list.split(/[x,]/i).map((p) => p.trim());
  const dims = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : Number.NaN));
  const bad = parts.find((_, i) => !Number.isSafeInteger(dims[i]) || dims[i]! <= 0);
  if (bad !== undefined) {
    throw new OnnxModelError(
      OnnxModelErrorCode.BadInputShape,
      `${INPUT_SHAPE_FLAG} '${text}': dim '${bad}' is not a positive integer (dims are separated by x, e.g. ${name}=3x640x640)`,
    );
  }
  return { name, dims };
}

/** Parses every `--input-shape` value into the map {@link fixInputShapes} takes; a name given twice is an error. */
export function parseInputShapeFlags(texts: readonly string[]): Map<string, readonly number[]> {
  const shapes = new Map<string, readonly number[]>();
  for (const text of texts) {
    const { name, dims } = parseInputShapeFlag(text);
    if (shapes.has(name)) {
      throw new OnnxModelError(
        OnnxModelErrorCode.BadInputShape,
        `${INPUT_SHAPE_FLAG}: input '${name}' is given twice (${name}=${shapes.get(name)!.join('x')} and ${text})`,
      );
    }
    shapes.set(name, dims);
  }
  return shapes;
}

/** Inputs with a symbolic dim besides the batch (dim 0): any later dim that is not a positive number. */
function dynamicInputs(model: OnnxModel): TensorSpec[] {
  return model.inputs.filter((spec) => spec.shape.slice(1).some((d) => !isKnownDim(d)));
}

/** The error for an input whose non-batch dims are symbolic: it names the flag and an example for that input. */
export function dynamicInputShapeError(spec: TensorSpec, source: string): OnnxModelError {
  return new OnnxModelError(
    OnnxModelErrorCode.DynamicInputShape,
    `${source}: input '${spec.name}' has dynamic dims ${formatShape(spec)}; fix them with ${INPUT_SHAPE_FLAG} ${inputShapeExample(spec)} (the batch stays dynamic)`,
  );
}

/** Throws {@link dynamicInputShapeError} for the first input with symbolic dims besides the batch. */
export function assertInputShapesFixed(model: OnnxModel): void {
  const first = dynamicInputs(model)[0];
  if (first !== undefined) throw dynamicInputShapeError(first, model.source);
}

const dimValue = (value: number): onnx.TensorShapeProto_Dimension =>
  create(OnnxSchema.TensorShapeProto_Dimension, { value: { case: 'dimValue', value: BigInt(value) } });

/**
 * Rewrites graph input dims: `shapes` maps an input name to its dims after the batch (dims 1..rank-1).
 * Dim 0, the batch, stays as it is, and becomes the symbolic `N` if it was unknown. Dims the model
 * already fixes must match. Returns a re-parsed model whose `bytes` are the rewritten model, so the
 * whole-model candidates run it too. value_info entries with a fixed dim are dropped, as they may
 * describe another input size (onnxruntime re-infers them); symbolic ones stay. Throws OnnxModelError `bad_input_shape` for an unknown
 * input, a wrong number of dims, a non-positive dim or a conflict with a fixed dim.
 */
export function fixInputShapes(model: OnnxModel, shapes: ReadonlyMap<string, readonly number[]>): OnnxModel {
  if (shapes.size === 0) return model;
  const byName = new Map(model.inputs.map((i) => [i.name, i]));
  for (const [name, dims] of shapes) {
    const spec = byName.get(name);
    const given = `${INPUT_SHAPE_FLAG} ${name}=${dims.join('x')}`;
    if (spec === undefined) {
      throw new OnnxModelError(
        OnnxModelErrorCode.BadInputShape,
        `${model.source}: ${given}: the model has no input '${name}' (inputs: ${model.inputs.map((i) => `${i.name} ${formatShape(i)}`).join(', ')})`,
      );
    }
    if (dims.length !== spec.shape.length - 1) {
      throw new OnnxModelError(
        OnnxModelErrorCode.BadInputShape,
        `${model.source}: ${given}: input '${name}' has rank ${spec.shape.length} ${formatShape(spec)}, so give ${spec.shape.length - 1} dim${spec.shape.length === 2 ? '' : 's'} (all but the batch), e.g. ${inputShapeExample(spec)}`,
      );
    }
    const bad = dims.find((d) => !Number.isSafeInteger(d) || d <= 0);
    if (bad !== undefined) {
      throw new OnnxModelError(
        OnnxModelErrorCode.BadInputShape,
        `${model.source}: ${given}: dim ${bad} is not a positive integer`,
      );
    }
    const conflict = dims.findIndex((d, i) => isKnownDim(spec.shape[i + 1]) && spec.shape[i + 1] !== d);
    if (conflict >= 0) {
      throw new OnnxModelError(
        OnnxModelErrorCode.BadInputShape,
        `${model.source}: ${given}: input '${name}' ${formatShape(spec)} fixes dim ${conflict + 1} at ${String(spec.shape[conflict + 1])}, not ${dims[conflict]}`,
      );
    }
  }
  const input = model.graph.input.map((info) => {
    const dims = shapes.get(info.name);
    const tensorType = info.type?.value.case === 'tensorType' ? info.type.value.value : undefined;
    if (dims === undefined || model.initializerNames.has(info.name) || tensorType?.shape === undefined) return info;
    const old = tensorType.shape.dim;
    const batch = old[0]!;
    const batchKnown = batch.value.case === 'dimValue' && batch.value.value > 0n;
    const batchNamed = batch.value.case === 'dimParam' && batch.value.value !== '';
    const dim = [
      batchKnown || batchNamed
        ? batch
        : withFields(OnnxSchema.TensorShapeProto_Dimension, batch, { value: { case: 'dimParam', value: 'N' } }),
      ...dims.map((d, i) => (isKnownDim(byName.get(info.name)!.shape[i + 1]) ? old[i + 1]! : dimValue(d))),
    ];
    return withFields(OnnxSchema.ValueInfoProto, info, {
      type: withFields(OnnxSchema.TypeProto, info.type!, {
        value: {
          case: 'tensorType',
          value: withFields(OnnxSchema.TypeProto_Tensor, tensorType, {
            shape: withFields(OnnxSchema.TensorShapeProto, tensorType.shape, { dim }),
          }),
        },
      }),
    });
  });
  // Intermediate shapes recorded for other input sizes would contradict the new ones, and onnxruntime
  // refuses a model whose declared and inferred dims differ; it re-infers them anyway. Entries without
  // a fixed dim cannot contradict, so they stay.
  const valueInfo = model.graph.valueInfo.filter((info) => {
    const tensorType = info.type?.value.case === 'tensorType' ? info.type.value.value : undefined;
    return !(tensorType?.shape?.dim ?? []).some((d) => d.value.case === 'dimValue');
  });
  const graph = withFields(OnnxSchema.GraphProto, model.graph, { input, valueInfo });
  return parseOnnxModel(encodeOnnxModel(withFields(OnnxSchema.ModelProto, model.proto, { graph })), model.source);
}
