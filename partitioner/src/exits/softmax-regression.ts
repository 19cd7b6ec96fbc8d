import { seededRandom } from '@cleave/proto';

/** A trained linear classifier: logits = x · weights + bias, with weights stored [features × classes]. */
export interface LinearClassifier {
  readonly features: number;
  readonly classes: number;
  /** Row-major [features × classes], already folded with the feature standardisation. */
  readonly weights: Float32Array;
  readonly bias: Float32Array;
}

/** Options for {@link trainSoftmaxRegression}. */
export interface SoftmaxRegressionOptions {
  /** @default 20 */
  epochs?: number;
  /** @default 256 */
  batchSize?: number;
  /** Adam learning rate. @default 0.01 */
  learningRate?: number;
  /** L2 penalty on weights. @default 1e-4 */
  l2?: number;
  /** Shuffling seed: the same seed and data always give the same classifier. @default 1 */
  seed?: number;
}

/**
 * Trains multinomial logistic regression with minibatch Adam on standardised features
 * (x: row-major [samples × features]). Deterministic for a given seed. The standardisation is
 * folded into the returned weights, so the classifier applies to raw features directly.
 */
export function trainSoftmaxRegression(
  x: Float32Array,
  labels: ArrayLike<number>,
  features: number,
  classes: number,
  options: SoftmaxRegressionOptions = {},
): LinearClassifier {
  const n = labels.length;
  if (n === 0) throw new RangeError("'labels' must not be empty");
  if (x.length !== n * features) throw new RangeError(`'x' has ${x.length} values, expected ${n} × ${features}`);
  const epochs = options.epochs ?? 20;
  const batchSize = options.batchSize ?? 256;
  const lr = options.learningRate ?? 0.01;
  const l2 = options.l2 ?? 1e-4;

  const mean = new Float64Array(features);
  const std = new Float64Array(features);
  for (let i = 0; i < n; i++) for (let d = 0; d < features; d++) mean[d]! += x[i * features + d]!;
  for (let d = 0; d < features; d++) mean[d]! /= n;
  for (let i = 0; i < n; i++) for (let d = 0; d < features; d++) std[d]! += (x[i * features + d]! - mean[d]!) ** 2;
  for (let d = 0; d < features; d++) std[d] = Math.sqrt(std[d]! / n) || 1;

  const w = new Float64Array(features * classes);
  const b = new Float64Array(classes);
  const m = { w: new Float64Array(w.length), b: new Float64Array(classes) };
  const v = { w: new Float64Array(w.length), b: new Float64Array(classes) };
  const gw = new Float64Array(w.length);
  const gb = new Float64Array(classes);
  const z = new Float64Array(features);
  const p = new Float64Array(classes);
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  const random = seededRandom(options.seed ?? 1);
  const beta1 = 0.9;
  const beta2 = 0.999;
  let step = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(n, start + batchSize);
      gw.fill(0);
      gb.fill(0);
      for (let s = start; s < end; s++) {
        const row = order[s]!;
        for (let d = 0; d < features; d++) z[d] = (x[row * features + d]! - mean[d]!) / std[d]!;
        let max = -Infinity;
        for (let k = 0; k < classes; k++) {
          let acc = b[k]!;
          for (let d = 0; d < features; d++) acc += z[d]! * w[d * classes + k]!;
          p[k] = acc;
          max = Math.max(max, acc);
        }
        let sum = 0;
        for (let k = 0; k < classes; k++) sum += p[k] = Math.exp(p[k]! - max);
        const label = labels[row]!;
        for (let k = 0; k < classes; k++) {
          const g = p[k]! / sum - (k === label ? 1 : 0);
          gb[k]! += g;
          for (let d = 0; d < features; d++) gw[d * classes + k]! += g * z[d]!;
        }
      }
      const scale = 1 / (end - start);
      step++;
      const c1 = 1 - beta1 ** step;
      const c2 = 1 - beta2 ** step;
      for (let i = 0; i < w.length; i++) {
        const g = gw[i]! * scale + l2 * w[i]!;
        m.w[i] = beta1 * m.w[i]! + (1 - beta1) * g;
        v.w[i] = beta2 * v.w[i]! + (1 - beta2) * g * g;
        w[i]! -= (lr * (m.w[i]! / c1)) / (Math.sqrt(v.w[i]! / c2) + 1e-8);
      }
      for (let k = 0; k < classes; k++) {
        const g = gb[k]! * scale;
        m.b[k] = beta1 * m.b[k]! + (1 - beta1) * g;
        v.b[k] = beta2 * v.b[k]! + (1 - beta2) * g * g;
        b[k]! -= (lr * (m.b[k]! / c1)) / (Math.sqrt(v.b[k]! / c2) + 1e-8);
      }
    }
  }
  // Fold standardisation: (x - mean) / std · w + b = x · (w / std) + (b - Σ mean · w / std).
  const weights = new Float32Array(features * classes);
  const bias = Float32Array.from(b);
  for (let d = 0; d < features; d++) {
    for (let k = 0; k < classes; k++) {
      const folded = w[d * classes + k]! / std[d]!;
      weights[d * classes + k] = folded;
      bias[k]! -= mean[d]! * folded;
    }
  }
  return { features, classes, weights, bias };
}

/** Applies a classifier to row-major features; returns row-major logits. */
export function applyLinear(c: LinearClassifier, x: Float32Array, samples: number): Float32Array {
  const out = new Float32Array(samples * c.classes);
  for (let i = 0; i < samples; i++) {
    for (let k = 0; k < c.classes; k++) {
      let acc = c.bias[k]!;
      for (let d = 0; d < c.features; d++) acc += x[i * c.features + d]! * c.weights[d * c.classes + k]!;
      out[i * c.classes + k] = acc;
    }
  }
  return out;
}
