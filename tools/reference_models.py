"""Classic CNN architectures in plain PyTorch, the references pycnn's models are checked against.

Every model is built from torch.nn modules only (Conv2d, BatchNorm2d, Linear, ReLU, MaxPool2d,
AvgPool2d, AdaptiveAvgPool2d, LocalResponseNorm, Dropout, Sequential), laid out like torchvision's
definition of the same model so that `state_dict()` keys match torchvision's, and pycnn.models can
reuse the same attribute names one for one. `forward` uses only these ops: conv2d, max_pool2d
(ceil_mode included), avg_pool2d, adaptive_avg_pool2d, linear, relu, batch_norm, local_response_norm,
dropout, cat, add, flatten, plus a zeros tensor for the CIFAR ResNets' option-A shortcut.

Tensors are NCHW float32. Each builder is `name(num_classes=..., ...)` and returns an nn.Module;
`MODELS` maps every name to its builder, `count_params(model)` counts parameters and
`macs(model, input_shape)` counts the multiply-accumulates of the conv and linear layers.

ReLUs are nn.ReLU modules (never inplace, so a module can be reused and activations stay intact for
parity checks) unless a model's notes say "functional relu". Builders work under
`with torch.device("meta"):` so parameter counts of the big models cost no memory or init time.
"""

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------------------------------
# LeNet-5


class LeNet5(nn.Module):
    """LeNet-5 with ReLU and max pooling, for 1x28x28 input (MNIST).

    Keys: features.{0,3}.{weight,bias}, classifier.{0,2,4}.{weight,bias}.
    Forward: features (conv 5x5 pad 2 -> 6x28x28, relu, pool -> 6x14x14, conv 5x5 -> 16x10x10,
    relu, pool -> 16x5x5), flatten(x, 1) -> 400, classifier (400->120, relu, 120->84, relu,
    84->num_classes). Output (N, num_classes).
    """

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def lenet5(num_classes=10):
    """LeNet-5 (ReLU, max pooling) for (N, 1, 28, 28) input; 61,706 parameters at 10 classes."""
    return LeNet5(num_classes)


# --------------------------------------------------------------------------------------------------
# AlexNet and ZFNet: features / [avgpool] / classifier


class AlexNet(nn.Module):
    """AlexNet as torchvision defines it, or the 2012 paper's two-tower network with original=True.

    torchvision (original=False), 61,100,840 parameters at 1000 classes:
      keys features.{0,3,6,8,10}.{weight,bias}, classifier.{1,4,6}.{weight,bias}.
      features: conv 11x11/4 pad 2 64, relu, maxpool 3/2, conv 5x5 pad 2 192, relu, maxpool 3/2,
      conv 3x3 384, relu, conv 3x3 256, relu, conv 3x3 256, relu, maxpool 3/2 -> 256x6x6 at 224;
      avgpool = AdaptiveAvgPool2d(6); classifier: dropout, 9216->4096, relu, dropout, 4096->4096,
      relu, 4096->num_classes.
    Paper (original=True), 227x227 input, 60,965,224 parameters at 1000 classes:
      keys features.{0,4,8,10,12}.{weight,bias}, classifier.{1,4,6}.{weight,bias}.
      features: conv1 11x11/4 no pad 96 -> 55x55, relu, lrn, maxpool 3/2 -> 27;
      conv2 5x5 pad 2 256 groups=2, relu, lrn, maxpool 3/2 -> 13; conv3 3x3 pad 1 384 (dense);
      relu; conv4 3x3 pad 1 384 groups=2, relu; conv5 3x3 pad 1 256 groups=2, relu, maxpool 3/2 -> 6.
      avgpool = AdaptiveAvgPool2d(6) (the identity at 227 input), classifier as torchvision's.
      LRN is LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2). torch (and pycnn) divide alpha by
      size, so this is alpha=2e-5 in the paper's formula (the paper's 1e-4 would be alpha=5e-4 here).
    Forward: features, avgpool, flatten(x, 1), classifier.
    """

    def __init__(self, num_classes=1000, dropout=0.5, original=False):
        super().__init__()
        if original:
            self.features = nn.Sequential(
                nn.Conv2d(3, 96, kernel_size=11, stride=4),
                nn.ReLU(),
                nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2),
                nn.ReLU(),
                nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(256, 384, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2),
                nn.ReLU(),
                nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2),
            )
        else:
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(64, 192, kernel_size=5, padding=2),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(192, 384, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.Conv2d(384, 256, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.Conv2d(256, 256, kernel_size=3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2),
            )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _fc_classifier(256 * 6 * 6, num_classes, dropout, dropout_first=True)

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def _fc_classifier(in_features, num_classes, dropout, dropout_first):
    """The 4096-4096-classes head. torchvision's AlexNet puts dropout before each of the first two
    linears (indices 1, 4, 6); VGG puts it after their ReLUs (indices 0, 3, 6)."""
    if dropout_first:
        layers = [
            nn.Dropout(p=dropout), nn.Linear(in_features, 4096), nn.ReLU(),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes),
        ]
    else:
        layers = [
            nn.Linear(in_features, 4096), nn.ReLU(), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        ]
    return nn.Sequential(*layers)


def alexnet(num_classes=1000, dropout=0.5, original=False):
    """AlexNet: torchvision's single tower (N, 3, 224, 224), or the paper's (N, 3, 227, 227)."""
    return AlexNet(num_classes, dropout, original)


class ZFNet(nn.Module):
    """Zeiler & Fergus 2014 (their fig. 3 model) for 224x224 input, 62,357,608 parameters.

    Keys: features.{0,4,8,10,12}.{weight,bias}, classifier.{1,4,6}.{weight,bias} (AlexNet's).
    features: conv1 7x7/2 pad 1 96 -> 110x110, relu, maxpool 3/2 ceil -> 55, lrn;
    conv2 5x5/2 pad 0 256 -> 26, relu, maxpool 3/2 ceil -> 13, lrn; conv3 3x3 pad 1 384, relu,
    conv4 3x3 pad 1 384, relu, conv5 3x3 pad 1 256, relu, maxpool 3/2 ceil -> 6 (floor gives 6 too).
    The paddings are our choice: the paper gives only the sizes 110 -> 55 -> 26 -> 13 -> 6, and
    these are the smallest settings that produce them (ceil_mode pooling is Caffe's convention).
    LRN is LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2), as for AlexNet.
    Forward: features, avgpool (AdaptiveAvgPool2d(6), identity at 224), flatten(x, 1), classifier
    (dropout, 9216->4096, relu, dropout, 4096->4096, relu, 4096->num_classes).
    """

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=7, stride=2, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0),
            nn.Conv2d(96, 256, kernel_size=5, stride=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0),
            nn.Conv2d(256, 384, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 384, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _fc_classifier(256 * 6 * 6, num_classes, dropout, dropout_first=True)

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def zfnet(num_classes=1000, dropout=0.5):
    """ZFNet for (N, 3, 224, 224) input."""
    return ZFNet(num_classes, dropout)


# --------------------------------------------------------------------------------------------------
# VGG


VGG_CONFIGS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    """VGG as torchvision defines it.

    Keys: features.<i>.{weight,bias} for each conv (and, with batch_norm, features.<i+1>.{weight,
    bias,running_mean,running_var,num_batches_tracked}), classifier.{0,3,6}.{weight,bias}.
    features: per config entry a conv 3x3 pad 1 [+ BatchNorm2d] + relu, or maxpool 2/2 for "M".
    Forward: features, avgpool (AdaptiveAvgPool2d(7)), flatten(x, 1), classifier (25088->4096,
    relu, dropout, 4096->4096, relu, dropout, 4096->num_classes).
    """

    def __init__(self, config, batch_norm=False, num_classes=1000, dropout=0.5):
        super().__init__()
        layers = []
        in_channels = 3
        for v in config:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU())
            in_channels = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = _fc_classifier(512 * 7 * 7, num_classes, dropout, dropout_first=False)
        # torchvision's init
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def _vgg_builder(name, batch_norm):
    def build(num_classes=1000, dropout=0.5):
        return VGG(VGG_CONFIGS[name], batch_norm, num_classes, dropout)

    build.__name__ = name + ("_bn" if batch_norm else "")
    build.__doc__ = f"{build.__name__} (torchvision layout) for (N, 3, 224, 224) input."
    return build


vgg11 = _vgg_builder("vgg11", False)
vgg13 = _vgg_builder("vgg13", False)
vgg16 = _vgg_builder("vgg16", False)
vgg19 = _vgg_builder("vgg19", False)
vgg11_bn = _vgg_builder("vgg11", True)
vgg13_bn = _vgg_builder("vgg13", True)
vgg16_bn = _vgg_builder("vgg16", True)
vgg19_bn = _vgg_builder("vgg19", True)


# --------------------------------------------------------------------------------------------------
# GoogLeNet (Inception v1)


class BasicConv2d(nn.Module):
    """conv [+ BatchNorm2d(eps=0.001)] + relu, the unit every GoogLeNet conv is wrapped in.

    torchvision=True: conv without bias + bn (keys conv.weight, bn.*), as torchvision's BasicConv2d.
    torchvision=False (the paper): conv with bias, no bn (keys conv.weight, conv.bias).
    Forward: conv, [bn], functional relu.
    """

    def __init__(self, in_channels, out_channels, torchvision, **conv_args):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=not torchvision, **conv_args)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001) if torchvision else None

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x)


class Inception(nn.Module):
    """One Inception block: four branches concatenated along channels.

    Keys: branch1.conv.*, branch2.{0,1}.conv.*, branch3.{0,1}.conv.*, branch4.1.conv.*
    (plus .bn.* with torchvision=True). branch3 is the paper's 5x5 (torchvision: 3x3 pad 1);
    branch4 is maxpool 3x3/1 pad 1 ceil_mode then a 1x1 conv.
    Forward: cat([branch1(x), branch2(x), branch3(x), branch4(x)], 1).
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
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier on a 14x14 map: avgpool 5x5/3 -> 4x4, 1x1 conv 128 + relu,
    flatten -> 2048, fc1 1024 + relu, dropout 0.7, fc2 num_classes.

    Keys: conv.conv.* (+ conv.bn.*), fc1.{weight,bias}, fc2.{weight,bias} (torchvision's names).
    Forward: the paper's avg_pool2d(5, stride 3); torchvision=True uses torchvision's
    adaptive_avg_pool2d(4) instead (the same at 14x14). Functional relu after fc1.
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
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout(x)
        return self.fc2(x)


# (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) per block, from the paper's table 1.
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
    """GoogLeNet / Inception v1 for 224x224 input; attribute names are torchvision's.

    Keys: conv1.conv.*, conv2.conv.*, conv3.conv.*, inception{3a,3b,4a..4e,5a,5b}.* (see Inception),
    [aux1.*, aux2.*], fc.{weight,bias}; plus .bn.* under every BasicConv2d with torchvision=True.
    Stem: conv1 7x7/2 pad 3 64 -> 112, maxpool1 3/2 ceil -> 56, [lrn1], conv2 1x1 64,
    conv3 3x3 pad 1 192, [lrn2], maxpool2 3/2 ceil -> 28. lrn1/lrn2 (paper only) are
    LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1), Caffe's bvlc_googlenet values.
    Then 3a, 3b, maxpool3 3/2 ceil -> 14, 4a [aux1], 4b, 4c, 4d [aux2], 4e, maxpool4 -> 7
    (paper 3/2 ceil, torchvision 2/2 ceil), 5a, 5b, avgpool (AdaptiveAvgPool2d(1), the paper's
    7x7 average at 224), flatten(x, 1), dropout (paper 0.4, torchvision 0.2), fc 1024->num_classes.
    With aux_logits=True in train mode forward returns (main, aux2, aux1), else the main logits.
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
        for name in ("inception3a", "inception3b"):
            setattr(self, name, Inception(*GOOGLENET_BLOCKS[name], tv))
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name in ("inception4a", "inception4b", "inception4c", "inception4d", "inception4e"):
            setattr(self, name, Inception(*GOOGLENET_BLOCKS[name], tv))
        self.maxpool4 = (nn.MaxPool2d(2, stride=2, ceil_mode=True) if tv
                         else nn.MaxPool2d(3, stride=2, ceil_mode=True))
        for name in ("inception5a", "inception5b"):
            setattr(self, name, Inception(*GOOGLENET_BLOCKS[name], tv))
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, tv)
            self.aux2 = InceptionAux(528, num_classes, tv)
        else:
            self.aux1 = None
            self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=0.2 if tv else 0.4)
        self.fc = nn.Linear(1024, num_classes)
        # torchvision's init: truncated normal std 0.01 for conv and linear weights
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

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
        x = torch.flatten(x, 1)
        x = self.dropout(x)
        x = self.fc(x)
        if with_aux:
            return x, aux2, aux1
        return x


def googlenet(num_classes=1000, aux_logits=False, torchvision=False):
    """GoogLeNet for (N, 3, 224, 224): the paper's Inception v1, or torchvision's BN variant."""
    return GoogLeNet(num_classes, aux_logits, torchvision)


# --------------------------------------------------------------------------------------------------
# ResNet (torchvision v1.5) and the CIFAR ResNets


class BasicBlock(nn.Module):
    """Two 3x3 convs (no bias) with batch norm; stride on the first.

    Keys: conv1.weight, bn1.*, conv2.weight, bn2.*, [downsample.0.weight, downsample.1.*]
    (downsample = Sequential(conv 1x1/stride no bias, BatchNorm2d), torchvision's option B).
    CIFAR option A replaces downsample with `shortcut` (ChannelPadShortcut, no parameters).
    Forward: relu(bn1(conv1 x)), bn2(conv2 .), add identity (or downsample(x)/shortcut(x)), relu.
    The one `relu` module is called twice.
    """

    expansion = 1

    def __init__(self, in_planes, planes, stride=1, downsample=None, shortcut=None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.shortcut = shortcut

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        elif self.shortcut is not None:
            identity = self.shortcut(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (carries the stride: torchvision v1.5), 1x1 expand x4, each conv no bias + bn.

    Keys: conv1.weight, bn1.*, conv2.weight, bn2.*, conv3.weight, bn3.*,
    [downsample.0.weight, downsample.1.*].
    Forward: relu(bn1(conv1 x)), relu(bn2(conv2 .)), bn3(conv3 .), add identity/downsample(x), relu.
    """

    expansion = 4

    def __init__(self, in_planes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet for ImageNet as torchvision (v1.5) defines it.

    Keys: conv1.weight, bn1.*, layer{1..4}.<block>.* (see BasicBlock / Bottleneck), fc.{weight,bias}.
    Forward: conv1 7x7/2 pad 3 64, bn1, relu, maxpool 3/2 pad 1 -> 56 at 224, layer1..layer4
    (strides 1, 2, 2, 2), avgpool (AdaptiveAvgPool2d(1)), flatten(x, 1), fc.
    """

    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], 1)
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        _init_conv_bn(self)

    def _make_layer(self, block, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.in_planes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.in_planes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.in_planes, planes, stride, downsample)]
        self.in_planes = planes * block.expansion
        layers += [block(self.in_planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


def _init_conv_bn(model):
    """torchvision's ResNet/DenseNet init: kaiming normal (fan_out) convs, bn weight 1 bias 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def resnet18(num_classes=1000):
    """ResNet-18 for (N, 3, 224, 224); 11,689,512 parameters."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


def resnet34(num_classes=1000):
    """ResNet-34 for (N, 3, 224, 224); 21,797,672 parameters."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes)


def resnet50(num_classes=1000):
    """ResNet-50 (v1.5) for (N, 3, 224, 224); 25,557,032 parameters."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


def resnet101(num_classes=1000):
    """ResNet-101 (v1.5) for (N, 3, 224, 224); 44,549,160 parameters."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes)


def resnet152(num_classes=1000):
    """ResNet-152 (v1.5) for (N, 3, 224, 224); 60,192,808 parameters."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes)


class ChannelPadShortcut(nn.Module):
    """He et al. 2015 option A shortcut: parameter-free, halves H and W and pads channels with zeros.

    (N, C, H, W) -> (N, out_channels, ceil(H/2), ceil(W/2)). Subsampling is max_pool2d with
    kernel 1 stride 2, which picks x[:, :, ::2, ::2] exactly, so pycnn needs no slicing op. The
    zero channels go half before and half after the input's (cat([zeros, x, zeros], 1)), the
    layout of the widely used CIFAR ResNet code (F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))),
    so its weights load unchanged. pycnn needs only a zeros tensor and cat.
    """

    def __init__(self, out_channels):
        super().__init__()
        self.out_channels = out_channels

    def forward(self, x):
        x = F.max_pool2d(x, kernel_size=1, stride=2)
        n, c, h, w = x.shape
        pad = (self.out_channels - c) // 2
        zeros = torch.zeros(n, pad, h, w, dtype=x.dtype, device=x.device)
        return torch.cat([zeros, x, zeros], 1)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 CIFAR images, He et al. 2015 section 4.2, option A shortcuts.

    Keys: conv1.weight, bn1.*, layer{1,2,3}.<block>.{conv1.weight, bn1.*, conv2.weight, bn2.*},
    fc.{weight,bias}. No downsample keys: the stride-2 first blocks of layer2/layer3 carry a
    parameter-free `shortcut` (ChannelPadShortcut).
    Forward: conv1 3x3 pad 1 16, bn1, relu, layer1 (16 ch, 32x32), layer2 (32 ch, 16x16),
    layer3 (64 ch, 8x8), avgpool (AdaptiveAvgPool2d(1)), flatten(x, 1), fc 64->num_classes.
    """

    def __init__(self, n, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(16, 16, n, 1)
        self.layer2 = self._make_layer(16, 32, n, 2)
        self.layer3 = self._make_layer(32, 64, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        _init_conv_bn(self)

    @staticmethod
    def _make_layer(in_planes, planes, blocks, stride):
        shortcut = ChannelPadShortcut(planes) if stride != 1 or in_planes != planes else None
        layers = [BasicBlock(in_planes, planes, stride, shortcut=shortcut)]
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.fc(x)


def resnet20(num_classes=10):
    """CIFAR ResNet-20 (n=3) for (N, 3, 32, 32); 269,722 parameters."""
    return CifarResNet(3, num_classes)


def resnet56(num_classes=10):
    """CIFAR ResNet-56 (n=9) for (N, 3, 32, 32); 853,018 parameters."""
    return CifarResNet(9, num_classes)


# --------------------------------------------------------------------------------------------------
# DenseNet


class DenseLayer(nn.Module):
    """Bottleneck layer: norm1, relu1, conv1 1x1 (bn_size*growth, no bias), norm2, relu2,
    conv2 3x3 pad 1 (growth, no bias). Input: the block's features so far, already concatenated.

    Keys: norm1.*, conv1.weight, norm2.*, conv2.weight.
    """

    def __init__(self, in_channels, growth_rate, bn_size):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x):
        x = self.conv1(self.relu1(self.norm1(x)))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseBlock(nn.Module):
    """denselayer1..denselayerL; layer i sees cat of the block input and every earlier output.

    Keys: denselayer<i>.* (torchvision's names). Forward: features = [x]; for each layer
    features.append(layer(cat(features, 1))); return cat(features, 1). torchvision concatenates
    inside the layer (memory-efficient checkpointing optional); the arithmetic is the same.
    """

    def __init__(self, num_layers, in_channels, growth_rate, bn_size):
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x):
        features = [x]
        for layer in self.children():
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """norm, relu, conv 1x1 (no bias) halving channels, pool AvgPool2d(2, 2).

    Keys: norm.*, conv.weight.
    """

    def __init__(self, in_channels, out_channels):
        super().__init__(OrderedDict([
            ("norm", nn.BatchNorm2d(in_channels)),
            ("relu", nn.ReLU()),
            ("conv", nn.Conv2d(in_channels, out_channels, 1, bias=False)),
            ("pool", nn.AvgPool2d(kernel_size=2, stride=2)),
        ]))


class DenseNet(nn.Module):
    """DenseNet-BC as torchvision defines it (growth 32, bn_size 4, compression 0.5, no dropout).

    Keys: features.conv0.weight, features.norm0.*, features.denseblock<b>.denselayer<i>.*,
    features.transition<b>.* (b = 1..3), features.norm5.*, classifier.{weight,bias}.
    Forward: features (conv0 7x7/2 pad 3 64, norm0, relu0, pool0 maxpool 3/2 pad 1, denseblock1,
    transition1, ..., denseblock4, norm5), functional relu, functional adaptive_avg_pool2d(1),
    flatten(x, 1), classifier.
    """

    def __init__(self, block_config, growth_rate=32, num_init_features=64, bn_size=4,
                 num_classes=1000):
        super().__init__()
        layers = OrderedDict([
            ("conv0", nn.Conv2d(3, num_init_features, 7, stride=2, padding=3, bias=False)),
            ("norm0", nn.BatchNorm2d(num_init_features)),
            ("relu0", nn.ReLU()),
            ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ])
        channels = num_init_features
        for b, num_layers in enumerate(block_config, start=1):
            layers[f"denseblock{b}"] = DenseBlock(num_layers, channels, growth_rate, bn_size)
            channels += num_layers * growth_rate
            if b != len(block_config):
                layers[f"transition{b}"] = Transition(channels, channels // 2)
                channels //= 2
        layers["norm5"] = nn.BatchNorm2d(channels)
        self.features = nn.Sequential(layers)
        self.classifier = nn.Linear(channels, num_classes)
        _init_conv_bn(self)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x):
        x = F.relu(self.features(x))
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = torch.flatten(x, 1)
        return self.classifier(x)


def densenet121(num_classes=1000):
    """DenseNet-121 for (N, 3, 224, 224); 7,978,856 parameters."""
    return DenseNet((6, 12, 24, 16), num_classes=num_classes)


def densenet169(num_classes=1000):
    """DenseNet-169 for (N, 3, 224, 224); 14,149,480 parameters."""
    return DenseNet((6, 12, 32, 32), num_classes=num_classes)


def densenet201(num_classes=1000):
    """DenseNet-201 for (N, 3, 224, 224); 20,013,928 parameters."""
    return DenseNet((6, 12, 48, 32), num_classes=num_classes)


# --------------------------------------------------------------------------------------------------
# Registry and counting


MODELS = {
    fn.__name__: fn
    for fn in (
        lenet5, alexnet, zfnet,
        vgg11, vgg13, vgg16, vgg19, vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn,
        googlenet,
        resnet18, resnet34, resnet50, resnet101, resnet152,
        densenet121, densenet169, densenet201,
        resnet20, resnet56,
    )
}


def count_params(model):
    """Number of parameters (trainable or not; buffers such as running means excluded)."""
    return sum(p.numel() for p in model.parameters())


def macs(model, input_shape):
    """Multiply-accumulates of one forward pass over the Conv2d and Linear layers, biases excluded.

    input_shape: (N, C, H, W) (or (N, features)); the count is for the whole batch. A conv adds
    out.numel() * (in_channels / groups) * kH * kW, a linear out.numel() * in_features.
    The model runs once in eval mode under no_grad on a zeros input on the model's device.
    """
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += output.numel() * (module.in_channels // module.groups) * kh * kw
        else:
            total += output.numel() * module.in_features

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters())
        with torch.no_grad():
            model(torch.zeros(input_shape, dtype=param.dtype, device=param.device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total
