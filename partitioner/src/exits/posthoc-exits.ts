import { argmaxRow, type Task } from '@cleave/proto';
import { asCalibrationData, type CalibrationData } from '../datasets/calibration-data.js';
import type { LabelledImages } from '../datasets/labelled-images.js';
import { findCuts } from '../graph/cut-analysis.js';
import type { GraphIndex } from '../graph/graph-index.js';
import { specToValueInfo } from '../graph/graph-surgery.js';
import type { ProbedTensor } from '../graph/shape-probe.js';
import { encodeOnnxModel, type OnnxModel } from '../onnx/onnx-model.js';
import {
  AttributeProto_AttributeType,
  create,
  OnnxSchema,
  TensorProto_DataType,
  withFields,
  type onnx,
} from '../onnx/onnx-schema.js';
import { checkCalibrationFits, collectLogits } from './collect-logits.js';
import { ExitError, ExitErrorCode } from './exit-errors.js';
import { trainSoftmaxRegression, type LinearClassifier } from './softmax-regression.js';

/** An exit head Cleave attached to a backbone tensor. */
export interface PosthocExit {
  readonly output: string;
  readonly attachedTo: string;
  /**
   * Top-1 accuracy of the head on its own training samples (a sanity figure, not a calibration): against the
   * labels, or agreement with the full model when the heads were trained on its answers.
   */
  readonly trainAccuracy: number;
  /** What the head was trained on: the set's labels, or the full model's argmax (an unlabelled set). */
  readonly trainedOn: 'labels' | 'agreement';
}

/** Options for {@link attachPosthocExits}. */
export interface PosthocExitOptions {
  /** Tensors to attach heads to. @default chosen among single-tensor cuts, spread over the network */
  readonly attachTo?: readonly string[];
  /** How many heads to attach when choosing automatically. @default 3 */
  readonly count?: number;
  readonly seed?: number;
  readonly epochs?: number;
  /** The output the heads learn to answer like. @default the model's first output */
  readonly finalOutput?: string;
  /** The model's task; post-hoc heads are classifiers. @default 'classification' */
  readonly task?: Task;
  readonly onProgress?: (done: number, total: number) => void;
}

/**
 * Picks attach points among single-tensor cuts with an [N, C, H, W] or [N, C] shape, evenly spread
 * between 15% and 85% of the network's nodes: earlier heads are too weak, later ones save too little.
 */
export function chooseAttachPoints(
  index: GraphIndex,
  probed: ReadonlyMap<string, ProbedTensor>,
  count: number,
): string[] {
  const tensorBytes = new Map([...probed].map(([n, p]) => [n, p.bytesPerSample]));
  const total = index.nodes.length;
  const options = findCuts(index, { tensorBytes })
    .filter((c) => c.origin === 'dominator' && c.tensors.length === 1)
    .filter((c) => c.headNodes >= 0.15 * total && c.headNodes <= 0.85 * total)
    .filter((c) => {
      const p = probed.get(c.tensors[0]!);
      return (
        p?.batched === true && p.spec.dtype === 'float32' && (p.spec.shape.length === 4 || p.spec.shape.length === 2)
      );
    });
  if (options.length <= count) return options.map((c) => c.tensors[0]!);
  return Array.from(
    { length: count },
    (_, i) => options[Math.round(((i + 0.5) / count) * (options.length - 1))]!.tensors[0]!,
  );
}

function featureNodes(tensor: string, k: number, rank: number): { nodes: onnx.NodeProto[]; feature: string } {
  if (rank === 2) return { nodes: [], feature: tensor };
  const pooled = `cleave_exit${k}_pooled`;
  const feature = `cleave_exit${k}_features`;
  return {
    nodes: [
      create(OnnxSchema.NodeProto, {
        name: `cleave_exit${k}_gap`,
        opType: 'GlobalAveragePool',
        input: [tensor],
        output: [pooled],
      }),
      create(OnnxSchema.NodeProto, {
        name: `cleave_exit${k}_flatten`,
        opType: 'Flatten',
        input: [pooled],
        output: [feature],
        attribute: [{ name: 'axis', type: AttributeProto_AttributeType.INT, i: 1n }],
      }),
    ],
    feature,
  };
}

function floatTensor(name: string, dims: number[], data: Float32Array): onnx.TensorProto {
  return create(OnnxSchema.TensorProto, {
    name,
    dataType: TensorProto_DataType.FLOAT,
    dims: dims.map(BigInt),
    // A copy of just the view's elements; raw_data is little-endian, like the hosts Cleave runs on.
    rawData: new Uint8Array(new Float32Array(data).buffer),
  });
}

/**
 * Attaches light exit heads (global average pooling + a linear classifier) to a classifier that
 * has none: features come from onnxruntime on the `train` set, and the heads are trained in
 * TypeScript with a seeded softmax regression — on the set's labels, or, for an unlabelled set,
 * on the full model's own answers (its argmax), so the heads learn to agree with it. Returns the
 * model with `exit_<k>` outputs placed before the original outputs; the original outputs are
 * computed exactly as before.
 */
export async function attachPosthocExits(
  model: OnnxModel,
  index: GraphIndex,
  probed: ReadonlyMap<string, ProbedTensor>,
  trainSet: CalibrationData | LabelledImages,
  options: PosthocExitOptions = {},
): Promise<{ bytes: Uint8Array; exits: PosthocExit[] }> {
  const task = options.task ?? 'classification';
  if (task !== 'classification') {
    throw new ExitError(
      ExitErrorCode.NotClassifier,
      `post-hoc exit heads are classifiers, but the model's task is ${task}: give it built-in exits (--exits) or pass --posthoc-exits 0`,
    );
  }
  const train = asCalibrationData(trainSet);
  const finalSpec = model.outputs.find((o) => o.name === (options.finalOutput ?? model.outputs[0]!.name));
  if (finalSpec === undefined) {
    throw new ExitError(ExitErrorCode.UnknownOutput, `the model has no output '${options.finalOutput}'`);
  }
  const classes = Number(finalSpec.shape[1]);
  if (train.count === 0) {
    // A set of one sample: the hold-out that chooses thresholds takes it, and heads never train on hold-out data.
    throw new ExitError(
      ExitErrorCode.EmptyCalibration,
      `${train.source}: no samples left to train post-hoc exit heads on after the hold-out; give at least 2 calibration samples`,
    );
  }
  checkCalibrationFits(train, model.inputs[0]!.shape, classes, 'the exit-head training set');
  const attach = options.attachTo ?? chooseAttachPoints(index, probed, options.count ?? 3);
  const heads = attach.map((tensor, k) => ({
    tensor,
    ...featureNodes(tensor, k + 1, probed.get(tensor)?.spec.shape.length ?? 4),
  }));
  const graph = model.graph;
  const withFeatures = withFields(OnnxSchema.ModelProto, model.proto, {
    graph: withFields(OnnxSchema.GraphProto, graph, {
      node: [...graph.node, ...heads.flatMap((h) => h.nodes)],
      output: [...graph.output, ...heads.filter((h) => h.nodes.length > 0).map((h) => ({ name: h.feature }))],
    }),
  });
  const unlabelled = train.labels === undefined;
  const collected = (
    await collectLogits(
      encodeOnnxModel(withFeatures),
      train,
      [...heads.map((h) => h.feature), ...(unlabelled ? [finalSpec.name] : [])],
      {
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        anyWidth: true,
      },
    )
  ).logits;
  // Without labels the heads learn the full model's answers.
  const labels: ArrayLike<number> = unlabelled
    ? (() => {
        const final = collected.get(finalSpec.name)!;
        const k = final.length / train.count;
        return Int32Array.from({ length: train.count }, (_, i) => argmaxRow(final, i * k, k));
      })()
    : train.labels;
  const exits: PosthocExit[] = [];
  const classifiers: LinearClassifier[] = [];
  heads.forEach((h, k) => {
    const x = collected.get(h.feature)!;
    const features = x.length / train.count;
    const clf = trainSoftmaxRegression(x, labels, features, classes, {
      seed: (options.seed ?? 1) + k,
      epochs: options.epochs ?? 20,
    });
    classifiers.push(clf);
    let right = 0;
    for (let i = 0; i < train.count; i++) {
      let best = 0;
      let bestValue = -Infinity;
      for (let c = 0; c < classes; c++) {
        let acc = clf.bias[c]!;
        for (let d = 0; d < features; d++) acc += x[i * features + d]! * clf.weights[d * classes + c]!;
        if (acc > bestValue) {
          bestValue = acc;
          best = c;
        }
      }
      if (best === labels[i]) right++;
    }
    exits.push({
      output: `exit_${k + 1}`,
      attachedTo: h.tensor,
      trainAccuracy: right / train.count,
      trainedOn: unlabelled ? 'agreement' : 'labels',
    });
  });
  const exitNodes = heads.flatMap((h, k) => [
    ...h.nodes,
    create(OnnxSchema.NodeProto, {
      name: `cleave_exit${k + 1}_classifier`,
      opType: 'Gemm',
      input: [h.feature, `cleave_exit${k + 1}_W`, `cleave_exit${k + 1}_b`],
      output: [`exit_${k + 1}`],
    }),
  ]);
  const augmented = withFields(OnnxSchema.ModelProto, model.proto, {
    graph: withFields(OnnxSchema.GraphProto, graph, {
      node: [...graph.node, ...exitNodes],
      initializer: [
        ...graph.initializer,
        ...classifiers.flatMap((c, k) => [
          floatTensor(`cleave_exit${k + 1}_W`, [c.features, c.classes], c.weights),
          floatTensor(`cleave_exit${k + 1}_b`, [c.classes], c.bias),
        ]),
      ],
      output: [
        ...exits.map((e) => specToValueInfo({ name: e.output, dtype: 'float32', shape: ['batch', classes] })),
        ...graph.output,
      ],
    }),
  });
  return { bytes: encodeOnnxModel(augmented), exits };
}
