"""The detector network (torch): a small CenterNet with stride-4 heads.

Backbone of depthwise-separable residual blocks at strides 4/8/16, a light top-down
(FPN-like) path back to stride 4, and two heads: per-class centre heatmap and box
regression (dx, dy, log w, log h in output cells). The exported graph takes uint8 NHWC
tiles and returns every cell's class scores and regression, so ONNX Runtime does all the
heavy work (duplicates are suppressed by box overlap when decoding).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: Per-channel normalisation baked into the exported graph (ImageNet statistics, 0..255).
MEAN = (123.7, 116.3, 103.5)
STD = (58.4, 57.1, 57.4)


def _conv_bn(cin: int, cout: int, k: int = 3, s: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DWBlock(nn.Module):
    """Depthwise 3x3 + pointwise 1x1 (inverted-residual-lite), residual when shapes allow."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.dw = _conv_bn(cin, cin, 3, stride, groups=cin)
        self.pw = _conv_bn(cin, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw(self.dw(x))
        return F.relu(x + y) if self.residual else F.relu(y)


class CenterNetLite(nn.Module):
    def __init__(self, num_classes: int, widths: tuple[int, int, int, int] = (16, 32, 64, 128)) -> None:
        super().__init__()
        c1, c2, c3, c4 = widths
        self.stem = nn.Sequential(_conv_bn(3, c1, 3, 2), _conv_bn(c1, c2, 3, 2))  # stride 4
        self.s4 = nn.Sequential(DWBlock(c2, c2), DWBlock(c2, c2))
        self.s8 = nn.Sequential(DWBlock(c2, c3, 2), DWBlock(c3, c3), DWBlock(c3, c3))
        self.s16 = nn.Sequential(DWBlock(c3, c4, 2), DWBlock(c4, c4), DWBlock(c4, c4))
        self.lat16 = _conv_bn(c4, c3, 1)
        self.fuse8 = DWBlock(c3, c3)
        self.lat8 = _conv_bn(c3, c2, 1)
        self.fuse4 = DWBlock(c2, c2)
        self.heat = nn.Sequential(DWBlock(c2, c2), nn.Conv2d(c2, num_classes, 1))
        self.reg = nn.Sequential(DWBlock(c2, c2), nn.Conv2d(c2, 4, 1))
        # Focal-loss prior: start every class at p = 0.01 so early training is stable.
        nn.init.constant_(self.heat[-1].bias, -4.6)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised NCHW float input -> (heat logits, regression), both at stride 4."""
        f4 = self.s4(self.stem(x))
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        p8 = self.fuse8(f8 + F.interpolate(self.lat16(f16), scale_factor=2.0, mode="nearest"))
        p4 = self.fuse4(f4 + F.interpolate(self.lat8(p8), scale_factor=2.0, mode="nearest"))
        return self.heat(p4), self.reg(p4)


class ExportWrapper(nn.Module):
    """uint8 NHWC tiles -> (class scores N x C x H/4 x W/4, regression N x 4 x H/4 x W/4)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, net: CenterNetLite, channels: list[int] | None = None) -> None:
        super().__init__()
        self.net = net
        # Output only these heat channels (classes that had training data).
        self.channels = channels
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (images.permute(0, 3, 1, 2).float() - self.mean) / self.std
        logits, reg = self.net(x)
        if self.channels is not None:
            logits = logits[:, self.channels]
        # Every cell's scores: duplicates are suppressed by box overlap when decoding
        # (``decode_centernet``), not by a 3x3 local-maximum filter here.
        return torch.sigmoid(logits), reg


def conv_norm_pairs(net: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d | None]]:
    """Every convolution in forward order, with the batch norm that follows it (if any)."""
    modules = list(net.modules())
    pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d | None]] = []
    for k, m in enumerate(modules):
        if isinstance(m, nn.Conv2d):
            after = modules[k + 1] if k + 1 < len(modules) else None
            pairs.append((m, after if isinstance(after, nn.BatchNorm2d) else None))
    return pairs


def widen(
    narrow: CenterNetLite,
    wide: CenterNetLite,
    widths: tuple[Sequence[int], Sequence[int]],
    rng: np.random.Generator,
    noise: float = 0.0,
) -> None:
    """Copy ``narrow`` into the wider ``wide`` so that it computes the same function (Net2Net).

    ``widths`` is (narrow's, wide's). Each extra channel of a width copies a random existing
    channel of it, everywhere that width occurs (so residual sums stay aligned), and the
    layer after it shares that channel's weights among its copies. ``noise`` (relative to a
    layer's weight spread) is then added to the copies' own weights so they can learn apart.
    Batch norms must be identities plus a bias, as after ``export.load_onnx_weights``.
    Raises ValueError if a width shrinks or two equal widths widen differently.
    """
    target: dict[int, int] = {}
    for old, new in zip(*widths, strict=True):
        if new < old or target.setdefault(old, new) != new:
            raise ValueError(f"widths {list(widths[0])} cannot become {list(widths[1])}")
    maps: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    jitter = np.random.default_rng(int(rng.integers(2**63)))  # the copies do not depend on ``noise``

    def mapping(old: int) -> tuple[np.ndarray, np.ndarray]:
        """New channel -> old channel it copies, and how many copies each old channel has."""
        if old not in maps:
            g = np.concatenate([np.arange(old), rng.integers(0, old, target[old] - old)])
            maps[old] = g, np.bincount(g, minlength=old).astype(np.float32)
        return maps[old]

    with torch.no_grad():
        for k, ((cn, bn), (cw, bw)) in enumerate(zip(conv_norm_pairs(narrow), conv_norm_pairs(wide), strict=True)):
            w = cn.weight.detach().numpy()
            # Only the heads' last convolutions have no batch norm: their outputs keep their size.
            g_out = mapping(w.shape[0])[0] if bn is not None else np.arange(w.shape[0])
            if cn.groups > 1:  # depthwise: channel i filters its own input channel i
                new_w = w[g_out]
            else:  # the first convolution reads the image's three channels
                g_in, copies = mapping(w.shape[1]) if k > 0 else (np.arange(3), np.ones(3, dtype=np.float32))
                new_w = w[g_out][:, g_in] / copies[g_in][:, None, None]
            if noise:
                extra = (np.arange(len(g_out)) >= w.shape[0])[:, None, None, None]
                new_w = new_w + extra * jitter.normal(0.0, noise * float(w.std()), new_w.shape)
            cw.weight.copy_(torch.tensor(new_w, dtype=torch.float32))
            source = bn.bias if bn is not None else cn.bias
            assert source is not None  # every convolution has a bias or a norm's shift
            new_bias = torch.tensor(source.detach().numpy()[g_out], dtype=torch.float32)
            if bw is not None:
                identity_norm(bw, new_bias)
            else:
                assert cw.bias is not None
                cw.bias.copy_(new_bias)


def identity_norm(bn: nn.BatchNorm2d, bias: torch.Tensor) -> None:
    """Make ``bn`` compute the identity plus ``bias`` in eval mode (mean 0, variance 1 - eps,
    scale 1): the form of a batch norm folded into the convolution before it."""
    assert bn.running_mean is not None and bn.running_var is not None  # track_running_stats
    with torch.no_grad():
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)
        bn.weight.fill_(1.0)
        bn.bias.copy_(bias)


def freeze_batch_norms(net: nn.Module) -> None:
    """Batch norms to eval mode (their running statistics used and kept), the rest as it is.

    For a network loaded from an exported model, whose batch norms were folded into the
    convolutions (see ``export.load_onnx_weights``): call after every ``net.train()``.
    """
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC batch -> normalised float NCHW (same as the exported graph)."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (images.permute(0, 3, 1, 2).float() - mean) / std


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 2.0,
    beta: float = 4.0,
    background: torch.Tensor | None = None,
) -> torch.Tensor:
    """CenterNet's penalty-reduced pixel-wise focal loss, normalised by the number of objects.

    ``background`` (N, S, S) weighs each cell's background term (0 where a crop's labels
    cannot say whether there is an object; see ``data.background_weight``).
    """
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    neg = 1 - pos
    if background is not None:
        neg = neg * background.unsqueeze(1)
    pos_loss = torch.log(p) * (1 - p) ** alpha * pos
    neg_loss = torch.log(1 - p) * p**alpha * (1 - target) ** beta * neg
    n = pos.sum().clamp(min=1)
    return -(pos_loss.sum() + neg_loss.sum()) / n


def regression_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 on (dx, dy, log w, log h) at object centres."""
    m = mask.unsqueeze(1)
    return (F.l1_loss(pred * m, target * m, reduction="sum")) / m.sum().clamp(min=1)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
