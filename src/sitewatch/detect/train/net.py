"""The detector network (torch): a small CenterNet with stride-4 heads.

Backbone of depthwise-separable residual blocks at strides 4/8/16, a light top-down
(FPN-like) path back to stride 4, and two heads: per-class centre heatmap and box
regression (dx, dy, log w, log h in output cells). The exported graph takes uint8 NHWC
tiles and returns peak-suppressed scores, so ONNX Runtime does all the heavy work.
"""

from __future__ import annotations

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
    """uint8 NHWC tiles -> (peak scores N x C x H/4 x W/4, regression N x 4 x H/4 x W/4)."""

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
        heat = torch.sigmoid(logits)
        # Keep only local maxima (3x3): the CenterNet replacement for NMS on centres.
        peaks = heat * (F.max_pool2d(heat, 3, 1, 1) == heat).float()
        return peaks, reg


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
