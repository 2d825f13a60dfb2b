"""A small, fast residual CNN family for 28-64 px images (the smoke default)."""
from __future__ import annotations

from torch import nn


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = conv_bn(cin, cout, stride)
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResCNN(nn.Module):
    """stem (3x3, stride 1) -> stages of BasicBlocks, each halving the size -> global pool.

    widths (w, 2w, 4w) and depths set the cost; on 28 px the last stage runs at 7 px.
    """

    def __init__(self, in_chans: int = 1, width: int = 32, depths: tuple[int, ...] = (1, 1, 1)):
        super().__init__()
        self.stem = conv_bn(in_chans, width)
        stages, cin = [], width
        for i, depth in enumerate(depths):
            cout = width * 2 ** i
            blocks = [BasicBlock(cin if j == 0 else cout, cout, 2 if (i > 0 and j == 0) else 1) for j in range(depth)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.num_features = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.pool(self.stages(self.stem(x)))

    def stage_list(self) -> list[nn.Module]:
        return [self.stem, *self.stages]
