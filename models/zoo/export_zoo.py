#!/usr/bin/python3
"""Export torchvision architectures with RANDOM weights to ONNX (opset 17).

Pretrained weights cannot be downloaded here, and Cleave's partitioner and
latency profiling only need the graph shape and realistic tensor sizes, so
every model is built with weights=None after torch.manual_seed(0).

Each model: input `input` float32 [N,3,224,224], single output `logits`
[N,1000], dynamic batch axis. Output DIR/NAME.onnx is written atomically.

  /usr/bin/python3 models/zoo/export_zoo.py NAME [NAME...] [--out-dir DIR] [--force]
  /usr/bin/python3 models/zoo/export_zoo.py --list
"""
import argparse
import os
import sys
import time

import torch
import torchvision.models as tvm

OPSET = 17

# name -> builder; the DAG-shaped ones (branches/concats/residuals) matter for
# testing the partitioner beyond simple chains.
ZOO = {
    "mobilenet_v2": lambda: tvm.mobilenet_v2(weights=None),
    "squeezenet1_1": lambda: tvm.squeezenet1_1(weights=None),
    "resnet18": lambda: tvm.resnet18(weights=None),
    # aux heads are training-only; init_weights=True makes the random init
    # explicit (None emits a FutureWarning in torchvision 0.14).
    "googlenet": lambda: tvm.googlenet(weights=None, aux_logits=False, init_weights=True),
    "shufflenet_v2_x0_5": lambda: tvm.shufflenet_v2_x0_5(weights=None),
    "mobilenet_v3_small": lambda: tvm.mobilenet_v3_small(weights=None),
    "efficientnet_b0": lambda: tvm.efficientnet_b0(weights=None),
    "densenet121": lambda: tvm.densenet121(weights=None),
}


def export_one(name, out_dir, force=False):
    """Export one model; returns (path, seconds or None if skipped)."""
    import onnx

    path = os.path.join(out_dir, f"{name}.onnx")
    if os.path.exists(path) and not force:
        return path, None
    t0 = time.time()
    torch.manual_seed(0)  # per model, so a model's weights don't depend on the CLI order
    model = ZOO[name]().eval()
    dummy = torch.rand(1, 3, 224, 224)
    # Temp file in the same dir so os.replace is an atomic rename; a concurrent
    # reader never sees a half-written model.
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with torch.no_grad():
            torch.onnx.export(model, dummy, tmp, opset_version=OPSET,
                              input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                              do_constant_folding=True, export_params=True)
        onnx.checker.check_model(onnx.load(tmp), full_check=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path, time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", metavar="NAME", help="model names (see --list)")
    ap.add_argument("--out-dir", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), ".cache"),
        help="default: models/zoo/.cache")
    ap.add_argument("--force", action="store_true", help="re-export existing files")
    ap.add_argument("--list", action="store_true", help="print supported names and exit")
    args = ap.parse_args()

    if args.list:
        print("\n".join(ZOO))
        return 0
    if not args.names:
        ap.error("no model names given (use --list)")
    unknown = [n for n in args.names if n not in ZOO]
    if unknown:
        print(f"error: unknown model(s): {', '.join(unknown)} "
              f"(supported: {', '.join(ZOO)})", file=sys.stderr)
        return 2

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    os.makedirs(args.out_dir, exist_ok=True)
    for name in args.names:
        path, secs = export_one(name, args.out_dir, args.force)
        size = os.path.getsize(path) / 2**20
        status = "skipped (exists)" if secs is None else f"exported in {secs:.1f}s"
        print(f"{name}: {path} {size:.1f} MiB {status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
