#!/usr/bin/python3
"""Train Cleave's heavier Fashion-MNIST early-exit CNN and export it to ONNX.

A ResNet-style network on Fashion-MNIST upsampled (bilinear) to 96x96, with
two BranchyNet-style early exits placed after narrow "bottleneck" transitions,
so that the tensor live at each exit is smaller than the input (that is where
a split can beat sending the input). Trains on the Fashion-MNIST *train* split
only; t10k is touched once, after training, for an informational log line.
Writes:

  <out-dir>/fmnist-heavy-exits.onnx   outputs: exit_1, exit_2, logits  (raw logits)
  <out-dir>/fmnist-heavy.onnx         output:  logits                  (backbone only)

Input contract of both files: `input` float32 [N,1,96,96], pixels in [0,1]
(a 28x28 image upsampled bilinearly, align_corners=False); normalization
(mean 0.2860, std 0.3530) is the model's first op.

Run with Debian's interpreter (the pyenv python has no torch):
  nice -n 19 /usr/bin/python3 models/fmnist-heavy/train.py
"""
import argparse
import importlib.util
import os
import random
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# The example's data loading, augmentation and layers are reused as they are.
# Loaded by path under another name: `import train` would find this file.
_EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fmnist", "train.py")
_spec = importlib.util.spec_from_file_location("fmnist_example_train", _EXAMPLE)
example = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(example)
conv_bn, Normalize, load_split, augment = (example.conv_bn, example.Normalize,
                                           example.load_split, example.augment)

SIZE = 96  # ONNX input H = W
EXIT_WEIGHTS = (0.3, 0.3, 1.0)  # joint loss weights: exit_1, exit_2, final
OPSET = 17
OUTPUTS_EXITS = ["exit_1", "exit_2", "logits"]


def upsample(x):
    """28x28 -> SIZE x SIZE, bilinear: the resize every caller must apply too."""
    return F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)


# ----------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------
class BasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs, identity skip, ReLU after the Add).
    Dense 3x3 convs rather than depthwise: they carry the compute and train
    several times faster per MAC on CPU."""

    def __init__(self, ch):
        super().__init__()
        self.body = nn.Sequential(conv_bn(ch, ch), conv_bn(ch, ch, relu=False))

    def forward(self, x):
        return F.relu(x + self.body(x))


def exit_head(cin, mid, stride):
    """Early-exit head: one 3x3 conv, GAP, Linear."""
    return nn.Sequential(conv_bn(cin, mid, 3, stride), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(mid, 10))


class FMNISTHeavyNet(nn.Module):
    """Widths are (stage1, stage2, bottleneck1, stage3, bottleneck2, stage4)."""

    def __init__(self, widths=(40, 64, 40, 96, 80, 128)):
        super().__init__()
        w1, w2, b1, w3, b2, w4 = widths
        self.norm = Normalize()
        # 96 -> 48 (stem) -> 24: the high-resolution stages hold most MACs.
        self.stage1 = nn.Sequential(conv_bn(1, w1, 3, 2), BasicBlock(w1), BasicBlock(w1))
        self.stage2 = nn.Sequential(conv_bn(w1, w2, 3, 2), BasicBlock(w2), BasicBlock(w2))
        # Narrow strided transition (DenseNet-style compression): the only
        # tensor live here is b1 x 12 x 12, smaller than the 96x96 input.
        self.bneck1 = conv_bn(w2, b1, 3, 2)
        self.stage3 = nn.Sequential(conv_bn(b1, w3, 1), BasicBlock(w3), BasicBlock(w3))
        self.bneck2 = conv_bn(w3, b2, 3, 2)  # b2 x 6 x 6
        self.stage4 = nn.Sequential(conv_bn(b2, w4, 1), BasicBlock(w4))
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                        nn.Dropout(0.2), nn.Linear(w4, 10))
        self.exit1 = exit_head(b1, 96, 2)
        self.exit2 = exit_head(b2, 96, 1)

    def cut1(self, x):
        return self.bneck1(self.stage2(self.stage1(self.norm(x))))

    def forward(self, x):
        """Returns (exit_1, exit_2, logits), all raw logits."""
        c1 = self.cut1(x)
        c2 = self.bneck2(self.stage3(c1))
        logits = self.classifier(self.stage4(c2))
        return self.exit1(c1), self.exit2(c2), logits


class BackboneOnly(nn.Module):
    """Export wrapper: main path only; the exit heads are never called, so
    tracing leaves them (and their weights) out of the ONNX graph."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        n = self.net
        return n.classifier(n.stage4(n.bneck2(n.stage3(n.cut1(x)))))


def count_macs(model, shape):
    """Multiply-accumulates per sample of Conv2d and Linear layers (forward
    hooks; BN, ReLU, Add and pooling are not counted)."""
    total = [0]

    def hook(m, _inp, out):
        per_out = (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1] \
            if isinstance(m, nn.Conv2d) else m.in_features
        total[0] += out[0].numel() * per_out

    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    handles = [m.register_forward_hook(hook) for m in layers]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.rand(1, *shape))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total[0]


def report_macs(model):
    """Prints MACs per sample of both heavy graphs against the example's."""
    ex = example.FMNISTNet()
    pairs = [("exits", count_macs(model, (1, SIZE, SIZE)), count_macs(ex, (1, 28, 28))),
             ("backbone", count_macs(BackboneOnly(model), (1, SIZE, SIZE)),
              count_macs(example.BackboneOnly(ex), (1, 28, 28)))]
    for name, heavy, base in pairs:
        print(f"MACs/sample {name}: {heavy / 1e6:.1f} M (example {base / 1e6:.2f} M, "
              f"ratio {heavy / base:.1f}x)", flush=True)


# ----------------------------------------------------------------------------
# Train / eval / export
# ----------------------------------------------------------------------------
@torch.no_grad()
def evaluate(model, x, y, bs=500):
    model.eval()
    correct = torch.zeros(3, dtype=torch.long)
    for i in range(0, len(x), bs):
        outs = model(upsample(x[i:i + bs]).contiguous(memory_format=torch.channels_last))
        for k, o in enumerate(outs):
            correct[k] += (o.argmax(1) == y[i:i + bs]).sum()
    return (correct.double() / len(x) * 100).tolist()


def export(model, path, output_names):
    model.eval()
    axes = {name: {0: "N"} for name in ["input"] + output_names}
    tmp = path + ".tmp"
    torch.onnx.export(model, torch.rand(2, 1, SIZE, SIZE), tmp, opset_version=OPSET,
                      input_names=["input"], output_names=output_names, dynamic_axes=axes,
                      do_constant_folding=True, export_params=True)
    os.replace(tmp, path)
    verify(model, path, output_names)


def verify(model, path, output_names):
    """Checker, output names, the normalising first op, and (when a Python ONNX
    runtime is installed; Debian's onnx 1.12 has none) a numeric comparison
    at batch 3, not the export batch 2, so the dynamic axis is exercised."""
    import onnx
    m = onnx.load(path)  # fails if weights were externalised and missing
    onnx.checker.check_model(m, full_check=True)
    got = [o.name for o in m.graph.output]
    assert got == output_names, f"{path}: outputs {got} != {output_names}"
    # The first op on the input (torch may put Identity nodes for shared
    # initializers ahead of it in node order).
    first = next(n.op_type for n in m.graph.node if "input" in n.input)
    assert first == "Sub", f"{path}: first op on the input is {first}, expected the normalising Sub"
    msg = f"exported {path}: {os.path.getsize(path) / 1024:.1f} KiB, outputs={got}, checker OK"
    x = torch.rand(3, 1, SIZE, SIZE)
    try:
        import onnxruntime as ort
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        outs = sess.run(output_names, {"input": x.numpy()})
    except ImportError:
        outs = None
    if outs is None:
        msg += " (no Python onnxruntime: numeric check skipped; cleave evaluate checks accuracy)"
    else:
        with torch.no_grad():
            ref = model(x)
        ref = [ref] if isinstance(ref, torch.Tensor) else list(ref)
        diff = max(float(np.abs(r.numpy() - o).max()) for r, o in zip(ref, outs))
        assert diff < 1e-3, f"{path}: torch vs onnxruntime max abs diff {diff}"
        msg += f", torch vs onnxruntime max|diff|={diff:.2e}"
    print(msg, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out-dir", default=here, help="default: models/fmnist-heavy")
    ap.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=4e-3, help="OneCycle peak LR (AdamW)")
    ap.add_argument("--holdout", type=int, default=5000,
                    help="last N train images held out for validation (0 = none)")
    ap.add_argument("--subset", type=int, default=0,
                    help="train on the first N images only, skip export (to time an epoch)")
    ap.add_argument("--state", default=os.path.join(tempfile.gettempdir(), "fmnist-heavy-state.pt"),
                    help="trained weights are saved here before export (default: %(default)s)")
    ap.add_argument("--export-only", action="store_true",
                    help="skip training: load --state and export")
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
    if args.subset:
        x_tr, y_tr, x_val, y_val = x_tr[:args.subset], y_tr[:args.subset], x_val[:1000], y_val[:1000]
    print(f"train {len(x_tr)} / holdout {len(x_val)} at {SIZE}x{SIZE} (t10k unused until the end)")

    model = FMNISTHeavyNet()
    n_params = sum(p.numel() for p in model.parameters())
    n_backbone = n_params - sum(p.numel() for m in (model.exit1, model.exit2)
                                for p in m.parameters())
    print(f"params: {n_params} total, {n_backbone} backbone-only")
    report_macs(model)
    cl = torch.channels_last  # faster convs on CPU; layout only, same math and graph
    model = model.to(memory_format=cl)

    steps = (len(x_tr) + args.batch_size - 1) // args.batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps)
    t_start = time.time()
    if args.export_only:
        model.load_state_dict(torch.load(args.state))
    for epoch in range(1, 0 if args.export_only else args.epochs + 1):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(x_tr), generator=gen)
        tot = 0.0
        for s in range(steps):
            idx = perm[s * args.batch_size:(s + 1) * args.batch_size]
            # Augment at 28x28 (the example's flip + 2 px crop), then upsample.
            xb = upsample(augment(x_tr[idx], gen)).contiguous(memory_format=cl)
            outs = model(xb)
            loss = sum(w * F.cross_entropy(o, y_tr[idx]) for w, o in zip(EXIT_WEIGHTS, outs))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
            if s % 50 == 0:
                print(f"  step {s}/{steps} loss {loss.item():.4f} ({time.time() - t0:.0f}s)",
                      flush=True)
        line = f"epoch {epoch}/{args.epochs} loss {tot / steps:.4f}"
        if len(x_val):
            line += " val acc exit_1/exit_2/final {:.2f}/{:.2f}/{:.2f}".format(
                *evaluate(model, x_val, y_val))
        print(f"{line} ({time.time() - t0:.0f}s)", flush=True)
    train_s = time.time() - t_start
    print(f"training wall time: {train_s:.0f}s ({train_s / 60:.1f} min)")
    if args.subset:
        return
    if not args.export_only:  # so an export problem never costs a retrain
        torch.save(model.state_dict(), args.state)

    os.makedirs(args.out_dir, exist_ok=True)
    model = model.to(memory_format=torch.contiguous_format)
    export(model, os.path.join(args.out_dir, "fmnist-heavy-exits.onnx"), OUTPUTS_EXITS)
    export(BackboneOnly(model), os.path.join(args.out_dir, "fmnist-heavy.onnx"), ["logits"])

    # Informational only: official metrics are measured from the ONNX files in TS.
    x_te, y_te = load_split(args.data_dir, "t10k")
    print("t10k top-1 (PyTorch, informational) exit_1 {:.2f}% exit_2 {:.2f}% "
          "final {:.2f}%".format(*evaluate(model, x_te, y_te)))


if __name__ == "__main__":
    main()
