// The edge device classes the main job and the bench emulate: each is a cgroup CPU quota of this machine, chosen so
// that a reference model runs about as fast as a published measurement on that class of board. The quotas are
// calibrated by `npm run bench:devices`, which measures the reference model under each quota and prints the ratio to
// the published figure; the cloud is always the unthrottled machine.

/** A published single-thread latency of a known model on a real board, the anchor of a class's quota. */
export interface PublishedLatency {
  readonly board: string;
  readonly model: string;
  readonly runtime: string;
  readonly threads: number;
  readonly medianMs: number;
  readonly source: string;
}

/** One named class of edge device. */
export interface DeviceClass {
  readonly name: DeviceClassName;
  /** What kind of device it stands for. */
  readonly description: string;
  /** CPU cores of this machine the class gets (cfs quota / period). */
  readonly cores: number;
  /** How the quota was chosen: a published figure on such a board, or a fraction of another class. */
  readonly anchor: PublishedLatency | { readonly fractionOf: DeviceClassName; readonly fraction: number };
}

/** The class names, slowest last. */
export const DEVICE_CLASS_NAMES = ['gateway', 'pi', 'constrained'] as const;
/** One of {@link DEVICE_CLASS_NAMES}. */
export type DeviceClassName = (typeof DEVICE_CLASS_NAMES)[number];

/** Reference model of the calibration: torchvision mobilenet_v2, 224×224, float32 (models/zoo/export_zoo.py). */
export const CALIBRATION_MODEL = 'mobilenet_v2';

// Tencent/ncnn benchmark/README.md, `benchncnn` fp32, num_threads = 1, 224×224 classification models. No
// single-thread onnxruntime figure for these boards is published; ncnn is the comparable CPU runtime with one.
const NCNN_BENCHMARK = 'https://github.com/Tencent/ncnn/blob/master/benchmark/README.md';

const PI_REFERENCE: PublishedLatency = {
  board: 'Raspberry Pi 4 Model B (Cortex-A72 × 4 at 1.8 GHz), one thread',
  model: 'MobileNetV2 1.0, 224×224, float32',
  runtime: 'ncnn benchncnn',
  threads: 1,
  medianMs: 93.48,
  source: NCNN_BENCHMARK,
};

const CONSTRAINED_REFERENCE: PublishedLatency = {
  board: 'Raspberry Pi 3 Model B+ (Cortex-A53 × 4 at 1.4 GHz), one thread',
  model: 'MobileNetV2 1.0, 224×224, float32',
  runtime: 'ncnn benchncnn',
  threads: 1,
  medianMs: 158.8,
  source: NCNN_BENCHMARK,
};

// Quotas at which mobilenet_v2 (1 thread) runs at the published median on this machine, found by iterating
// `npm run bench:devices`, which prints the quota that would match next to these. They are not simply
// (unthrottled ms ÷ published ms): a process under a small CFS quota runs slower than its share of a core
// (0.0546 core, that ratio, measured 130 ms where 93 ms was wanted). Runs on the shared machine drift by about 15%.
const PI_CORES = 0.0759;
const CONSTRAINED_CORES = 0.044;

/** The classes, by name. */
export const DEVICE_CLASSES: Readonly<Record<DeviceClassName, DeviceClass>> = Object.freeze({
  gateway: {
    name: 'gateway',
    description: 'an x86 industrial gateway or small edge box: a quarter of one of these cores',
    cores: 0.25,
    anchor: { fractionOf: 'pi', fraction: 0.25 / PI_CORES },
  },
  pi: {
    name: 'pi',
    description: 'a Raspberry Pi 4 class board, one Cortex-A72 core',
    cores: PI_CORES,
    anchor: PI_REFERENCE,
  },
  constrained: {
    name: 'constrained',
    description: 'a camera or battery box, one Cortex-A53 core: 1.7× slower than pi',
    cores: CONSTRAINED_CORES,
    anchor: CONSTRAINED_REFERENCE,
  },
});

/** The class called `name`, or a one-line error naming the flag and the choices. */
export function deviceClass(name: string, flag = '--device'): DeviceClass {
  const found = (DEVICE_CLASSES as Record<string, DeviceClass | undefined>)[name];
  if (found === undefined) {
    throw new RangeError(`${flag} must be one of ${DEVICE_CLASS_NAMES.join(', ')}, got '${name}'`);
  }
  return found;
}
