"""A small, fast residual CNN family for 28-64 px images (the smoke default)."""

from __future__ import annotations

from torch import nn

from ..errors import ConfigError


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = conv_bn(cin, cout, stride)
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class ResCNN(nn.Module):
    """stem (3x3, stride 1) -> stages of BasicBlocks -> global pool.

    Stage i has widths[i] channels, depths[i] blocks and starts with strides[i].
    The cost sits where the resolution is high: on 28 px a 32-channel stage at
    stride 1 costs as much as a 64-channel stage at 14 px. On 2 CPU cores,
    training 64/128/256 channels at 14/7/4 px ran 93 GMAC/s against 83 for
    32/64/128 at 28/14/7 px (narrow convolutions on large maps are the slow ones).
    """

    def __init__(
        self,
        in_chans: int = 1,
        widths: tuple[int, ...] = (32, 64, 128),
        depths: tuple[int, ...] = (1, 1, 1),
        strides: tuple[int, ...] = (1, 2, 2),
        stem_width: int | None = None,
    ):
        super().__init__()
        if not len(widths) == len(depths) == len(strides):
            raise ConfigError(f"widths {widths}, depths {depths} and strides {strides} need one entry per stage")
        cin = stem_width or widths[0]
        self.stem = conv_bn(in_chans, cin)
        stages = []
        for cout, depth, stride in zip(widths, depths, strides):
            blocks = [BasicBlock(cin if j == 0 else cout, cout, stride if j == 0 else 1) for j in range(depth)]
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
