"""GoogLeNet / Inception v1 (Szegedy et al. 2014): the paper's network or torchvision's BN variant."""
from collections import OrderedDict

from .. import nn
from ..nn import functional as F
from ..nn import init


class BasicConv2d(nn.Module):
    """conv [+ BatchNorm2d(eps=0.001)] + relu, the unit every GoogLeNet conv is wrapped in.

    torchvision=True: conv without bias, then bn (keys conv.weight, bn.*), torchvision's BasicConv2d.
    torchvision=False (the paper): conv with bias, no bn (keys conv.weight, conv.bias).
    """

    def __init__(self, in_channels, out_channels, torchvision, **conv_args):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=not torchvision, **conv_args)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001) if torchvision else None

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x, inplace=True)


class Inception(nn.Module):
    """One Inception block: four branches concatenated along channels.

    Keys: branch1.conv.*, branch2.{0,1}.conv.*, branch3.{0,1}.conv.*, branch4.1.conv.*
    (plus .bn.* with torchvision=True). branch1 1x1; branch2 1x1 reduce then 3x3 pad 1; branch3
    1x1 reduce then the paper's 5x5 pad 2 (torchvision: 3x3 pad 1, its known deviation); branch4
    maxpool 3x3/1 pad 1 ceil_mode then a 1x1 projection. Output channels
    ch1x1 + ch3x3 + ch5x5 + pool_proj, same H and W.
    """

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj, torchvision):
        super().__init__()
        tv = torchvision
        big = 3 if torchvision else 5
        self.branch1 = BasicConv2d(in_channels, ch1x1, tv, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, tv, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, tv, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, tv, kernel_size=1),
            BasicConv2d(ch5x5red, ch5x5, tv, kernel_size=big, padding=big // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, tv, kernel_size=1),
        )

    def forward(self, x):
        return F.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on the 14x14 map after inception4a (aux1) or 4d (aux2).

    Keys: conv.conv.* (+ conv.bn.*), fc1.{weight,bias}, fc2.{weight,bias} (torchvision's names).
    Forward: average pool to 4x4 (the paper's avg_pool2d 5x5 stride 3; torchvision=True uses
    torchvision's adaptive_avg_pool2d(4), the same at 14x14), 1x1 conv 128 + relu, flatten -> 2048,
    fc1 1024 + relu, dropout 0.7, fc2 num_classes.
    """

    def __init__(self, in_channels, num_classes, torchvision, dropout=0.7):
        super().__init__()
        self.torchvision = torchvision
        self.conv = BasicConv2d(in_channels, 128, torchvision, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x):
        if self.torchvision:
            x = F.adaptive_avg_pool2d(x, (4, 4))
        else:
            x = F.avg_pool2d(x, kernel_size=5, stride=3)
        x = self.conv(x)
        x = F.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout(x)
        return self.fc2(x)


# (in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) per block: the paper's table 1.
GOOGLENET_BLOCKS = OrderedDict([
    ("inception3a", (192, 64, 96, 128, 16, 32, 32)),
    ("inception3b", (256, 128, 128, 192, 32, 96, 64)),
    ("inception4a", (480, 192, 96, 208, 16, 48, 64)),
    ("inception4b", (512, 160, 112, 224, 24, 64, 64)),
    ("inception4c", (512, 128, 128, 256, 24, 64, 64)),
    ("inception4d", (512, 112, 144, 288, 32, 64, 64)),
    ("inception4e", (528, 256, 160, 320, 32, 128, 128)),
    ("inception5a", (832, 256, 160, 320, 32, 128, 128)),
    ("inception5b", (832, 384, 192, 384, 48, 128, 128)),
])


class GoogLeNet(nn.Module):
    """GoogLeNet / Inception v1 for (N, 3, 224, 224); attribute names are torchvision's.

    torchvision=False (default) builds the paper's network: convs with bias, no batch norm, 5x5
    branches, LRN after the first pool and after conv3, maxpool4 3/2, dropout 0.4;
    6,998,552 parameters and 1.6 G MACs per image at 1000 classes without the aux heads.
    torchvision=True builds torchvision's variant: BasicConv2d = conv (no bias) + BatchNorm2d,
    3x3 in place of the 5x5 branches, no LRN, maxpool4 2/2, dropout 0.2 (6,624,904 parameters).

    Keys: conv1.conv.*, conv2.conv.*, conv3.conv.*, inception{3a,3b,4a..4e,5a,5b}.*,
    [aux1.*, aux2.*], fc.{weight,bias}.
    Stem: conv1 7x7/2 pad 3 64 -> 112, maxpool1 3/2 ceil -> 56, [lrn1], conv2 1x1 64,
    conv3 3x3 pad 1 192, [lrn2], maxpool2 3/2 ceil -> 28. lrn1/lrn2 are
    LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1), Caffe's bvlc_googlenet values.
    Then 3a, 3b, maxpool3 3/2 ceil -> 14, 4a [aux1], 4b, 4c, 4d [aux2], 4e, maxpool4 -> 7, 5a, 5b,
    avgpool AdaptiveAvgPool2d(1) (the paper's 7x7 average at 224), flatten, dropout,
    fc 1024->num_classes. With aux_logits=True in training mode forward returns
    (logits, aux2, aux1); otherwise the logits.
    Init: N(0, 0.01) conv and linear weights (torchvision truncates at +-2, i.e. 200 standard
    deviations, which never binds), zero biases, batch norm weight 1 bias 0.
    """

    def __init__(self, num_classes=1000, aux_logits=False, torchvision=False):
        super().__init__()
        tv = torchvision
        self.aux_logits = aux_logits
        self.conv1 = BasicConv2d(3, 64, tv, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.lrn1 = None if tv else nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        self.conv2 = BasicConv2d(64, 64, tv, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, tv, kernel_size=3, padding=1)
        self.lrn2 = None if tv else nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(*GOOGLENET_BLOCKS["inception3a"], tv)
        self.inception3b = Inception(*GOOGLENET_BLOCKS["inception3b"], tv)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(*GOOGLENET_BLOCKS["inception4a"], tv)
        self.inception4b = Inception(*GOOGLENET_BLOCKS["inception4b"], tv)
        self.inception4c = Inception(*GOOGLENET_BLOCKS["inception4c"], tv)
        self.inception4d = Inception(*GOOGLENET_BLOCKS["inception4d"], tv)
        self.inception4e = Inception(*GOOGLENET_BLOCKS["inception4e"], tv)
        if tv:
            self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        else:
            self.maxpool4 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception5a = Inception(*GOOGLENET_BLOCKS["inception5a"], tv)
        self.inception5b = Inception(*GOOGLENET_BLOCKS["inception5b"], tv)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, tv)
            self.aux2 = InceptionAux(528, num_classes, tv)
        else:
            self.aux1 = None
            self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=0.2 if tv else 0.4)
        self.fc = nn.Linear(1024, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                init.normal_(m.weight, 0.0, 0.01)
                if m.bias is not None:
                    init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        if self.lrn1 is not None:
            x = self.lrn1(x)
        x = self.conv3(self.conv2(x))
        if self.lrn2 is not None:
            x = self.lrn2(x)
        x = self.maxpool2(x)
        x = self.inception3b(self.inception3a(x))
        x = self.maxpool3(x)
        x = self.inception4a(x)
        with_aux = self.aux1 is not None and self.training
        aux1 = self.aux1(x) if with_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if with_aux else None
        x = self.inception4e(x)
        x = self.maxpool4(x)
        x = self.inception5b(self.inception5a(x))
        x = self.avgpool(x)
        x = F.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)
        if with_aux:
            return x, aux2, aux1
        return x


def googlenet(num_classes=1000, aux_logits=False, torchvision=False):
    """GoogLeNet for (N, 3, 224, 224): the paper's Inception v1 (default), or torchvision's batch
    norm variant with ``torchvision=True``. ``aux_logits=True`` adds the two auxiliary heads."""
    return GoogLeNet(num_classes, aux_logits, torchvision)
