#!/usr/bin/python3
"""Export six small model families of Cleave's product brief to ONNX (opset 17).

They are graph-shape fixtures: hand-written PyTorch re-creations of each
family's layout with RANDOM but seeded weights (torch.manual_seed(0) per
model). Initialisation keeps activations well scaled (Kaiming-normal convs,
BatchNorm in eval mode with near-default statistics) so outputs are neither
all zeros nor NaN and a relative error of 1e-4 means something. Every input
and output has the dynamic batch axis "N"; weights are embedded; each file is
checked with onnx.checker (full_check) and atomically moved into place.
Re-exporting is byte-identical.

  /usr/bin/python3 models/zoo/export_families.py NAME [NAME...] [--out-dir DIR] [--force]
  /usr/bin/python3 models/zoo/export_families.py --list
"""
import argparse
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

OPSET = 17


def init_weights(model):
    """Seeded, variance-preserving init for random-weight fixtures."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.normal_(m.bias, 0.0, 0.05)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 1.0 / math.sqrt(m.in_features))
            if m.bias is not None:
                nn.init.normal_(m.bias, 0.0, 0.02)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            # Eval-mode BN close to the identity, but not exactly, so the folded weights are not trivial.
            nn.init.uniform_(m.weight, 0.8, 1.2)
            nn.init.normal_(m.bias, 0.0, 0.1)
            m.running_mean.normal_(0.0, 0.1)
            m.running_var.uniform_(0.8, 1.2)
        elif isinstance(m, nn.PReLU):
            # Distinct slopes: equal-valued initializers would be deduplicated into Identity nodes.
            nn.init.uniform_(m.weight, 0.1, 0.3)
        elif isinstance(m, nn.LayerNorm):
            nn.init.uniform_(m.weight, 0.9, 1.1)
            nn.init.normal_(m.bias, 0.0, 0.02)
    return model


# --- 1. tiny-YOLOv2 (VOC layout, channels halved) -------------------------------------------------


def conv_bn_leaky(cin, cout, k=3):
    return [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.1)]


class TinyYoloV2(nn.Module):
    """Conv-BN-leaky blocks with MaxPool 2/2, then the characteristic ZeroPad2d((0,1,0,1)) feeding a
    stride-1 MaxPool (keeps 5x5 at 160 input), two 3x3 convs and the 1x1 detector: 5 anchors x (5+20)."""

    def __init__(self):
        super().__init__()
        chans = [3, 8, 16, 32, 64, 128]
        layers = []
        for cin, cout in zip(chans, chans[1:]):
            layers += conv_bn_leaky(cin, cout) + [nn.MaxPool2d(2, 2)]
        layers += conv_bn_leaky(128, 256)
        # Leaky-ReLU output is negative in places, so the zero padding matters for the max.
        layers += [nn.ZeroPad2d((0, 1, 0, 1)), nn.MaxPool2d(2, stride=1)]
        layers += conv_bn_leaky(256, 256) + conv_bn_leaky(256, 256)
        layers += [nn.Conv2d(256, 5 * (5 + 20), 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, images):
        return self.body(images)


# --- 2. ESPNet segmenter --------------------------------------------------------------------------


class BR(nn.Sequential):
    def __init__(self, c):
        super().__init__(nn.BatchNorm2d(c), nn.PReLU(c))


class CBR(nn.Sequential):
    def __init__(self, cin, cout, k=3, stride=1):
        super().__init__(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.PReLU(cout))


class ESP(nn.Module):
    """Efficient spatial pyramid: reduce (1x1, or strided 3x3 when downsampling), five parallel dilated
    3x3 convs (d = 1, 2, 4, 8, 16), hierarchical feature fusion (cumulative adds), concat, residual."""

    def __init__(self, cin, cout, down=False, add=True):
        super().__init__()
        n = cout // 5
        n1 = cout - 4 * n
        self.reduce = (nn.Conv2d(cin, n, 3, stride=2, padding=1, bias=False) if down
                       else nn.Conv2d(cin, n, 1, bias=False))
        self.branches = nn.ModuleList(
            nn.Conv2d(n, n1 if d == 1 else n, 3, padding=d, dilation=d, bias=False) for d in (1, 2, 4, 8, 16))
        self.add = add and not down and cin == cout
        self.br = BR(cout)

    def forward(self, x):
        r = self.reduce(x)
        d = [b(r) for b in self.branches]
        fused = [d[0], d[1]]
        for t in d[2:]:
            fused.append(fused[-1] + t)
        out = torch.cat(fused, 1)
        if self.add:
            out = x + out
        return self.br(out)


class ESPNetSeg(nn.Module):
    def __init__(self, classes=19, p=2, q=3):
        super().__init__()
        self.level1 = CBR(3, 16, 3, 2)
        self.sample1 = nn.AvgPool2d(3, stride=2, padding=1)  # input reinforcement, 1/2
        self.sample2 = nn.AvgPool2d(3, stride=2, padding=1)  # 1/4
        self.b1 = BR(16 + 3)
        self.level2_0 = ESP(19, 64, down=True)
        self.level2 = nn.Sequential(*[ESP(64, 64) for _ in range(p)])
        self.b2 = BR(128 + 3)
        self.level3_0 = ESP(131, 128, down=True)
        self.level3 = nn.Sequential(*[ESP(128, 128) for _ in range(q)])
        self.b3 = BR(256)
        self.classifier3 = nn.Conv2d(256, classes, 1, bias=False)
        self.up3 = nn.Sequential(nn.ConvTranspose2d(classes, classes, 2, stride=2, bias=False), BR(classes))
        self.proj2 = nn.Conv2d(131, classes, 1, bias=False)
        self.combine23 = nn.Sequential(BR(2 * classes), ESP(2 * classes, classes, add=False))
        self.up2 = nn.Sequential(nn.ConvTranspose2d(classes, classes, 2, stride=2, bias=False), BR(classes))
        self.merge1 = CBR(19 + classes, classes, 3)
        self.head = nn.Conv2d(classes, classes, 1)

    def forward(self, image):
        inp1 = self.sample1(image)
        inp2 = self.sample2(inp1)
        out0 = self.b1(torch.cat([self.level1(image), inp1], 1))            # 19 @ 1/2
        out1_0 = self.level2_0(out0)                                          # 64 @ 1/4
        out1 = self.b2(torch.cat([self.level2(out1_0), out1_0, inp2], 1))    # 131 @ 1/4
        out2_0 = self.level3_0(out1)                                          # 128 @ 1/8
        out2 = self.b3(torch.cat([out2_0, self.level3(out2_0)], 1))          # 256 @ 1/8
        up3 = self.up3(self.classifier3(out2))                                # C @ 1/4 (transposed conv)
        up2 = self.up2(self.combine23(torch.cat([self.proj2(out1), up3], 1)))  # C @ 1/2 (transposed conv)
        merged = self.head(self.merge1(torch.cat([up2, out0], 1)))
        return F.interpolate(merged, scale_factor=2.0, mode="bilinear", align_corners=False)  # C @ 1/1


def init_espnet(model):
    init_weights(model)
    # Cumulative adds and residuals grow the variance through the encoder; scale the last 1x1 so
    # the logits come out O(1) like a trained segmenter's.
    model.head.weight.data.mul_(0.1)
    return model


# --- 3. PoseNet (MobileNetV1 0.5, output stride 16, four heads) -----------------------------------


def dw_sep(cin, cout, stride=1, dilation=1):
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride=stride, padding=dilation, dilation=dilation, groups=cin, bias=False),
        nn.BatchNorm2d(cin), nn.ReLU6(),
        nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6())


class PoseNet(nn.Module):
    def __init__(self):
        super().__init__()
        cfg = [(16, 32, 1, 1), (32, 64, 2, 1), (64, 64, 1, 1), (64, 128, 2, 1), (128, 128, 1, 1),
               (128, 256, 2, 1)] + [(256, 256, 1, 1)] * 5 + [(256, 512, 1, 2), (512, 512, 1, 2)]
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
            *[dw_sep(*c) for c in cfg])
        self.heatmaps = nn.Conv2d(512, 17, 1)
        self.offsets = nn.Conv2d(512, 34, 1)
        self.displacement_fwd = nn.Conv2d(512, 32, 1)
        self.displacement_bwd = nn.Conv2d(512, 32, 1)

    def forward(self, image):
        f = self.backbone(image)
        return self.heatmaps(f), self.offsets(f), self.displacement_fwd(f), self.displacement_bwd(f)


# --- 4. DS-CNN keyword spotter (DS-CNN-S, "Hello Edge") --------------------------------------------


class DSCNN(nn.Module):
    def __init__(self, classes=12, c=64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, c, (10, 4), stride=2, padding=(5, 1), bias=False),
                                  nn.BatchNorm2d(c), nn.ReLU())                      # 25 x 5
        self.blocks = nn.Sequential(*[nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()) for _ in range(4)])
        self.pool = nn.AvgPool2d((25, 5), count_include_pad=False)  # plain AveragePool, no Pad node
        self.fc = nn.Linear(c, classes)

    def forward(self, mfcc):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(mfcc))), 1))


# --- 5. Transformer text encoder (token inputs) ---------------------------------------------------


class EncoderBlock(nn.Module):
    def __init__(self, d=192, heads=4, mlp=512):
        super().__init__()
        self.heads, self.dh = heads, d // heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc1, self.fc2 = nn.Linear(d, mlp), nn.Linear(mlp, d)

    def forward(self, x, bias):
        n, s, d = x.shape
        y = self.ln1(x)
        q, k, v = (p(y).reshape(n, s, self.heads, self.dh).transpose(1, 2) for p in (self.q, self.k, self.v))
        att = torch.softmax(q @ k.transpose(-2, -1) * (1.0 / math.sqrt(self.dh)) + bias, dim=-1)
        x = x + self.o((att @ v).transpose(1, 2).reshape(n, s, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TextEncoder(nn.Module):
    def __init__(self, vocab=1000, d=192, layers=4, max_len=512, classes=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.zeros(1, max_len, d))
        self.blocks = nn.ModuleList(EncoderBlock(d) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.cls = nn.Linear(d, classes)

    def forward(self, input_ids, attention_mask):
        # The learned table is sliced to the sequence length: Shape -> Slice of a float initializer.
        x = self.embed(input_ids) + self.pos[:, :input_ids.shape[1], :]
        m = attention_mask.to(torch.float32)
        bias = ((1.0 - m) * -1e4).unsqueeze(1).unsqueeze(2)    # [N,1,1,S] additive padding bias
        for blk in self.blocks:
            x = blk(x, bias)
        hidden = self.ln(x)
        w = m.unsqueeze(-1)
        pooled = (hidden * w).sum(1) / w.sum(1).clamp(min=1.0)   # masked mean
        return self.cls(pooled), hidden


def init_text_encoder(model):
    init_weights(model)
    nn.init.normal_(model.embed.weight, 0.0, 1.0)
    nn.init.normal_(model.pos, 0.0, 0.1)
    return model


# --- 6. Binarized CNN -----------------------------------------------------------------------------


class BinConv2d(nn.Conv2d):
    def forward(self, x):
        return F.conv2d(x, torch.sign(self.weight), None, self.stride, self.padding)


class BinLinear(nn.Linear):
    def forward(self, x):
        return F.linear(x, torch.sign(self.weight))


class BinaryNet(nn.Module):
    """Weights binarized with torch.sign (folded into +/-1 initializers at export), activations
    binarized with torch.sign (ONNX Sign nodes), BatchNorm between; the classifier stays real-valued."""

    def __init__(self):
        super().__init__()
        self.c1, self.bn1 = BinConv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32)
        self.c2, self.bn2 = BinConv2d(32, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32)
        self.c3, self.bn3 = BinConv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)
        self.c4, self.bn4 = BinConv2d(64, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64)
        self.f1, self.bn5 = BinLinear(64 * 7 * 7, 256, bias=False), nn.BatchNorm1d(256)
        self.f2 = nn.Linear(256, 10)

    def forward(self, image):
        x = torch.sign(self.bn1(self.c1(image - 0.5)))
        x = torch.sign(self.bn2(F.max_pool2d(self.c2(x), 2)))
        x = torch.sign(self.bn3(self.c3(x)))
        x = torch.sign(self.bn4(F.max_pool2d(self.c4(x), 2)))
        x = torch.sign(self.bn5(self.f1(torch.flatten(x, 1))))
        return self.f2(x)


def init_binary_net(model):
    init_weights(model)
    # +/-1 weights on +/-1 inputs sum to O(sqrt(fan_in)): scale the BN statistics to match, so the
    # pre-Sign values are O(1) and both signs occur.
    for conv, bn in ((model.c1, model.bn1), (model.c2, model.bn2), (model.c3, model.bn3),
                     (model.c4, model.bn4), (model.f1, model.bn5)):
        fan_in = conv.weight[0].numel() * (0.25 if conv is model.c1 else 1.0)
        bn.running_var.mul_(fan_in)
        bn.running_mean.mul_(math.sqrt(fan_in))
    return model


# --- registry -------------------------------------------------------------------------------------


def _images(*shape):
    return lambda: (torch.rand(*shape),)


def _tokens():
    ids = torch.randint(0, 1000, (1, 64), dtype=torch.int64)
    mask = torch.ones(1, 64, dtype=torch.int64)
    mask[:, 48:] = 0
    return ids, mask


# name -> (builder, example inputs, input names, output names)
FAMILIES = {
    "tiny_yolov2": (lambda: init_weights(TinyYoloV2()), _images(1, 3, 160, 160), ["images"], ["grid"]),
    "espnet_seg": (lambda: init_espnet(ESPNetSeg()), _images(1, 3, 128, 256), ["image"], ["seg_logits"]),
    "posenet": (lambda: init_weights(PoseNet()), _images(1, 3, 193, 257), ["image"],
                ["heatmaps", "offsets", "displacement_fwd", "displacement_bwd"]),
    "ds_cnn_kws": (lambda: init_weights(DSCNN()), lambda: (torch.randn(1, 1, 49, 10),), ["mfcc"], ["logits"]),
    "text_encoder": (lambda: init_text_encoder(TextEncoder()), _tokens, ["input_ids", "attention_mask"],
                     ["logits", "hidden"]),
    "binarized_net": (lambda: init_binary_net(BinaryNet()), _images(1, 1, 28, 28), ["image"], ["logits"]),
}


def _evaluate(node, args):
    """numpy semantics of the few ops torch emits to compute a Pad's `pads` from constants."""
    import numpy as np
    from onnx import helper, mapping, numpy_helper

    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    op = node.op_type
    if op == "Constant":
        return numpy_helper.to_array(attrs["value"])
    if op == "ConstantOfShape":
        fill = numpy_helper.to_array(attrs["value"]) if "value" in attrs else np.zeros(1, np.float32)
        return np.full(tuple(args[0]), fill.reshape(-1)[0], dtype=fill.dtype)
    if op == "Concat":
        return np.concatenate(args, axis=attrs["axis"])
    if op == "Reshape":
        return args[0].reshape(tuple(args[1]))
    if op == "Transpose":
        return np.transpose(args[0], attrs.get("perm"))
    if op == "Cast":
        return args[0].astype(mapping.TENSOR_TYPE_TO_NP_TYPE[attrs["to"]])
    if op == "Slice":
        data, starts, ends = args[:3]
        axes = args[3] if len(args) > 3 else range(len(starts))
        steps = args[4] if len(args) > 4 else [1] * len(starts)
        index = [slice(None)] * data.ndim
        for a, b, e, st in zip(axes, starts, ends, steps):
            index[int(a)] = slice(int(b), int(e), int(st))
        return data[tuple(index)]
    return None


def fold_pad_operands(model):
    """torch 1.13 computes a Pad's `pads` with a Slice of step -1 that its own constant folding
    skips. Evaluate those constant-only chains (and `constant_value`) into initializers, so every
    Pad reads plain initializers like a hand-written graph would, then drop the dead nodes."""
    from onnx import numpy_helper

    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}

    def value(name):
        if name in inits:
            return inits[name]
        node = producer.get(name)
        if node is None:
            return None
        args = [value(i) for i in node.input]
        return None if any(a is None for a in args) else _evaluate(node, args)

    for node in graph.node:
        if node.op_type != "Pad":
            continue
        for slot in range(1, len(node.input)):
            name = node.input[slot]
            if not name or name in inits:
                continue
            v = value(name)
            if v is None:
                continue
            folded = f"{node.name or node.output[0]}.{('pads', 'constant_value', 'axes')[slot - 1]}"
            graph.initializer.append(numpy_helper.from_array(v, folded))
            inits[folded] = v
            node.input[slot] = folded
    # Drop nodes whose outputs nobody reads any more.
    while True:
        used = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    return model


def stamp_output_shapes(model, outputs):
    """The exporter leaves some output dims as generated symbols; declare the shapes torch computed
    (batch stays "N"). onnx.checker's full check then verifies them against shape inference."""
    for info, tensor in zip(model.graph.output, outputs):
        dims = info.type.tensor_type.shape.dim
        assert len(dims) == tensor.dim(), (info.name, len(dims), tensor.shape)
        for i, (d, size) in enumerate(zip(dims, tensor.shape)):
            if i == 0:
                d.dim_param = "N"
            else:
                d.dim_value = size
    return model


def export_one(name, out_dir, force=False):
    """Export one model; returns (path, seconds or None if skipped)."""
    import onnx

    path = os.path.join(out_dir, f"{name}.onnx")
    if os.path.exists(path) and not force:
        return path, None
    t0 = time.time()
    build, example, input_names, output_names = FAMILIES[name]
    torch.manual_seed(0)  # per model, so a model's weights don't depend on the CLI order
    model = build().eval()
    args = example()
    with torch.no_grad():
        outputs = model(*args)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    # Temp file in the same dir so os.replace is an atomic rename; a concurrent
    # reader never sees a half-written model.
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with torch.no_grad():
            torch.onnx.export(model, args, tmp, opset_version=OPSET,
                              input_names=input_names, output_names=output_names,
                              dynamic_axes={t: {0: "N"} for t in input_names + output_names},
                              do_constant_folding=True, export_params=True)
        proto = stamp_output_shapes(fold_pad_operands(onnx.load(tmp)), outputs)
        onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, tmp)
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
        print("\n".join(FAMILIES))
        return 0
    if not args.names:
        ap.error("no model names given (use --list)")
    unknown = [n for n in args.names if n not in FAMILIES]
    if unknown:
        print(f"error: unknown model(s): {', '.join(unknown)} "
              f"(supported: {', '.join(FAMILIES)})", file=sys.stderr)
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
