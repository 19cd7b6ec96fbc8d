#!/usr/bin/python3
"""Train Cleave's Fashion-MNIST early-exit CNN and export it to ONNX.

A small MobileNet-style network (depthwise-separable conv blocks + inverted
residuals) with two BranchyNet-style early exits. Trains on the Fashion-MNIST
*train* split only; t10k is touched once, after training, for an informational
accuracy log line. Writes:

  <out-dir>/fmnist-exits.onnx   outputs: exit_1, exit_2, logits  (raw logits)
  <out-dir>/fmnist.onnx         output:  logits                  (backbone only)

Input contract of both files: `input` float32 [N,1,28,28], pixels in [0,1];
normalization (mean 0.2860, std 0.3530) is the model's first op.

Run with Debian's interpreter (the pyenv python has no torch):
  /usr/bin/python3 models/fmnist/train.py
"""
import argparse
import gzip
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.2860, 0.3530
EXIT_WEIGHTS = (0.3, 0.3, 1.0)  # joint loss weights: exit_1, exit_2, final
OPSET = 17


# ----------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------
def read_idx(path):
    """Parse a gzipped IDX file (big-endian header) into a uint8 numpy array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(data_dir, prefix):
    x = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    # Raw bytes / 255 -> [0,1]: exactly the contract the ONNX model expects.
    x = torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(y.astype(np.int64))


def augment(x, gen, pad=2):
    """Random horizontal flip + random crop with zero padding, per sample."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (pad, pad, pad, pad))
    out = torch.empty_like(x)
    offs = torch.randint(0, 2 * pad + 1, (n, 2), generator=gen).tolist()
    h, w = x.shape[2], x.shape[3]
    for i, (dy, dx) in enumerate(offs):
        out[i] = padded[i, :, dy:dy + h, dx:dx + w]
    return out


# ----------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------
def conv_bn(cin, cout, k=3, stride=1, groups=1, relu=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DSConv(nn.Sequential):
    """Depthwise 3x3 + pointwise 1x1, each followed by BN+ReLU (MobileNetV1)."""

    def __init__(self, cin, cout, stride=1):
        super().__init__(conv_bn(cin, cin, 3, stride, groups=cin), conv_bn(cin, cout, 1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block (expand 1x1, depthwise 3x3, linear 1x1) with identity
    skip, so the exported graph contains a residual Add (a DAG, not a chain)."""

    def __init__(self, ch, expand=2):
        super().__init__()
        hid = ch * expand
        self.body = nn.Sequential(conv_bn(ch, hid, 1), conv_bn(hid, hid, 3, groups=hid),
                                  conv_bn(hid, ch, 1, relu=False))

    def forward(self, x):
        return x + self.body(x)


class Normalize(nn.Module):
    def forward(self, x):
        return (x - MEAN) / STD


def exit_head(cin, mid):
    """Light early-exit head: strided DS conv, GAP, Linear."""
    return nn.Sequential(DSConv(cin, mid, stride=2), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(mid, 10))


class FMNISTNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = Normalize()
        # stage1: 28x28 -> 14x14, 48 ch
        self.stage1 = nn.Sequential(conv_bn(1, 24), DSConv(24, 48, stride=2),
                                    InvertedResidual(48))
        # stage2: 14x14 -> 7x7, 96 ch
        self.stage2 = nn.Sequential(DSConv(48, 96), DSConv(96, 96, stride=2),
                                    InvertedResidual(96))
        # stage3: 7x7, 192 ch
        self.stage3 = nn.Sequential(DSConv(96, 192), InvertedResidual(192))
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                        nn.Dropout(0.2), nn.Linear(192, 10))
        self.exit1 = exit_head(48, 64)
        self.exit2 = exit_head(96, 96)

    def forward(self, x):
        """Returns (exit_1, exit_2, logits), all raw logits."""
        f1 = self.stage1(self.norm(x))
        f2 = self.stage2(f1)
        logits = self.classifier(self.stage3(f2))
        return self.exit1(f1), self.exit2(f2), logits


class BackboneOnly(nn.Module):
    """Export wrapper: main path only; exit heads are never called, so tracing
    leaves them (and their weights) out of the ONNX graph."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        n = self.net
        return n.classifier(n.stage3(n.stage2(n.stage1(n.norm(x)))))


# ----------------------------------------------------------------------------
# Train / eval / export
# ----------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model, x, y, bs=1000):
    model.eval()
    correct = torch.zeros(3, dtype=torch.long)
    for i in range(0, len(x), bs):
        outs = model(x[i:i + bs])
        for k, o in enumerate(outs):
            correct[k] += (o.argmax(1) == y[i:i + bs]).sum()
    return (correct.double() / len(x) * 100).tolist()


def export(model, path, output_names):
    model.eval()
    dummy = torch.rand(2, 1, 28, 28)
    axes = {name: {0: "N"} for name in ["input"] + output_names}
    tmp = path + ".tmp"
    torch.onnx.export(model, dummy, tmp, opset_version=OPSET, input_names=["input"],
                      output_names=output_names, dynamic_axes=axes,
                      do_constant_folding=True, export_params=True)
    os.replace(tmp, path)
    verify(model, path, output_names)


def verify(model, path, output_names):
    import onnx
    m = onnx.load(path)  # fails if weights were externalised and missing
    onnx.checker.check_model(m, full_check=True)
    got = [o.name for o in m.graph.output]
    assert got == output_names, f"{path}: outputs {got} != {output_names}"
    x = torch.rand(3, 1, 28, 28)  # batch 3 != dummy batch 2: checks dynamic axis
    with torch.no_grad():
        ref = model(x)
    ref = [ref] if isinstance(ref, torch.Tensor) else list(ref)
    outs, how = None, None
    try:
        import onnxruntime as ort
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        outs, how = sess.run(output_names, {"input": x.numpy()}), "onnxruntime"
    except ImportError:
        try:  # pure-python reference runtime bundled with onnx >= 1.13
            from onnx.reference import ReferenceEvaluator
            outs = ReferenceEvaluator(m).run(output_names, {"input": x.numpy()})
            how = "onnx.reference"
        except ImportError:
            pass
    size = os.path.getsize(path)
    msg = f"exported {path}: {size / 1024:.1f} KiB, outputs={got}, checker OK"
    if outs is not None:
        diff = max(float(np.abs(r.numpy() - o).max()) for r, o in zip(ref, outs))
        assert diff < 1e-3, f"{path}: torch vs {how} max abs diff {diff}"
        msg += f", torch vs {how} max|diff|={diff:.2e}"
    else:
        msg += " (no onnxruntime / onnx.reference: numeric check skipped)"
    print(msg, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", default=here, help="default: models/fmnist")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=4e-3, help="OneCycle peak LR (AdamW)")
    ap.add_argument("--holdout", type=int, default=5000,
                    help="last N train images held out for validation (0 = none)")
    args = ap.parse_args()

    torch.set_num_threads(2)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    gen = torch.Generator().manual_seed(args.seed)

    x_all, y_all = load_split(args.data_dir, "train")
    n_train = len(x_all) - args.holdout
    x_tr, y_tr = x_all[:n_train], y_all[:n_train]
    x_val, y_val = x_all[n_train:], y_all[n_train:]
    print(f"train {len(x_tr)} / holdout {len(x_val)} (t10k unused until the end)")

    model = FMNISTNet()
    # channels_last makes depthwise convs ~1.5x faster on CPU (measured); it
    # only changes memory layout, not the math or the exported graph.
    cl = torch.channels_last
    model = model.to(memory_format=cl)
    n_params = sum(p.numel() for p in model.parameters())
    n_backbone = n_params - sum(p.numel() for m in (model.exit1, model.exit2)
                                for p in m.parameters())
    print(f"params: {n_params} total, {n_backbone} backbone-only")

    steps = (len(x_tr) + args.batch_size - 1) // args.batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps)
    t_start = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(x_tr), generator=gen)
        tot = 0.0
        for s in range(steps):
            idx = perm[s * args.batch_size:(s + 1) * args.batch_size]
            xb, yb = augment(x_tr[idx], gen).contiguous(memory_format=cl), y_tr[idx]
            outs = model(xb)
            loss = sum(w * F.cross_entropy(o, yb) for w, o in zip(EXIT_WEIGHTS, outs))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
        line = f"epoch {epoch}/{args.epochs} loss {tot / steps:.4f}"
        if len(x_val):
            line += " val acc exit_1/exit_2/final {:.2f}/{:.2f}/{:.2f}".format(
                *evaluate(model, x_val, y_val))
        print(f"{line} ({time.time() - t0:.0f}s)", flush=True)
    train_s = time.time() - t_start
    print(f"training wall time: {train_s:.0f}s ({train_s / 60:.1f} min)")

    os.makedirs(args.out_dir, exist_ok=True)
    model = model.to(memory_format=torch.contiguous_format)
    export(model, os.path.join(args.out_dir, "fmnist-exits.onnx"),
           ["exit_1", "exit_2", "logits"])
    export(BackboneOnly(model), os.path.join(args.out_dir, "fmnist.onnx"), ["logits"])

    # Informational only: official metrics are measured from the ONNX files in TS.
    x_te, y_te = load_split(args.data_dir, "t10k")
    print("t10k top-1 (PyTorch, informational) exit_1 {:.2f}% exit_2 {:.2f}% "
          "final {:.2f}%".format(*evaluate(model, x_te, y_te)))


if __name__ == "__main__":
    main()
