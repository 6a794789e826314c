"""ResNets (He et al. 2015): torchvision's ImageNet ResNet-18..152 (v1.5) and the CIFAR ResNet-20/56."""
from .. import nn
from ..nn import functional as F
from ..nn import init
from ..tensor import zeros


class BasicBlock(nn.Module):
    """Two 3x3 convs (no bias) with batch norm; the stride is on the first.

    Keys: conv1.weight, bn1.*, conv2.weight, bn2.*, [downsample.0.weight, downsample.1.*]
    (downsample = Sequential(conv 1x1/stride no bias, BatchNorm2d), torchvision's option B).
    The CIFAR ResNets pass ``shortcut`` (ChannelPadShortcut, option A, no parameters) instead.
    Forward: relu(bn1(conv1 x)), bn2(conv2 .), add x (or downsample(x) / shortcut(x)), relu;
    the one ``relu`` module is called twice.
    """

    expansion = 1

    def __init__(self, in_planes, planes, stride=1, downsample=None, shortcut=None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
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
    """1x1 reduce, 3x3, 1x1 expand x4, each conv without bias and followed by batch norm.

    The stride is on the 3x3 conv (conv2): torchvision's "ResNet v1.5". The paper (v1) strides the
    first 1x1; v1.5 costs a little more (ResNet-50: 4.1 G MACs against 3.9 G) and is more accurate.
    Keys: conv1.weight, bn1.*, conv2.weight, bn2.*, conv3.weight, bn3.*,
    [downsample.0.weight, downsample.1.*].
    Forward: relu(bn1(conv1 x)), relu(bn2(conv2 .)), bn3(conv3 .), add x or downsample(x), relu.
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
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


def _init_conv_bn(model):
    """torchvision's ResNet/DenseNet init: kaiming normal (fan_out) convs, batch norm weight 1 bias 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            init.ones_(m.weight)
            init.zeros_(m.bias)


class ResNet(nn.Module):
    """ResNet for ImageNet as torchvision defines it, for (N, 3, 224, 224).

    Keys: conv1.weight, bn1.*, layer{1..4}.<block>.* (see BasicBlock / Bottleneck), fc.{weight,bias}.
    Forward: conv1 7x7/2 pad 3 64, bn1, relu, maxpool 3/2 pad 1 -> 56x56 at 224, layer1..layer4
    (strides 1, 2, 2, 2; the first block of a stage gets a 1x1 projection `downsample` when the
    shape changes), avgpool AdaptiveAvgPool2d(1), flatten, fc 512*expansion -> num_classes.
    """

    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
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
        x = F.flatten(x, 1)
        return self.fc(x)


def resnet18(num_classes=1000):
    """ResNet-18 for (N, 3, 224, 224); 11,689,512 parameters, 1.8 G MACs per image."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


def resnet34(num_classes=1000):
    """ResNet-34 for (N, 3, 224, 224); 21,797,672 parameters, 3.6 G MACs per image."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes)


def resnet50(num_classes=1000):
    """ResNet-50, torchvision v1.5 (stride on the 3x3), for (N, 3, 224, 224); 25,557,032 parameters,
    4.1 G MACs per image."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


def resnet101(num_classes=1000):
    """ResNet-101, torchvision v1.5 (stride on the 3x3), for (N, 3, 224, 224); 44,549,160
    parameters, 7.8 G MACs per image."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes)


def resnet152(num_classes=1000):
    """ResNet-152, torchvision v1.5 (stride on the 3x3), for (N, 3, 224, 224); 60,192,808
    parameters, 11.5 G MACs per image."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes)


class ChannelPadShortcut(nn.Module):
    """The paper's option A shortcut: no parameters; halves H and W and pads channels with zeros.

    (N, C, H, W) -> (N, out_channels, ceil(H/2), ceil(W/2)). max_pool2d with kernel 1 stride 2
    picks x[:, :, ::2, ::2] exactly, so no slicing op is needed. The zero channels go half before
    and half after the input's, the layout of the widely used CIFAR ResNet code
    (F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p))), so its weights load unchanged.
    """

    def __init__(self, out_channels):
        super().__init__()
        self.out_channels = out_channels

    def forward(self, x):
        x = F.max_pool2d(x, kernel_size=1, stride=2)
        n, c, h, w = x.shape
        pad = zeros(n, (self.out_channels - c) // 2, h, w, device=x.device)
        return F.cat([pad, x, pad], 1)

    def extra_repr(self):
        return f"out_channels={self.out_channels}"


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for (N, 3, 32, 32) CIFAR images, He et al. 2015 section 4.2, option A shortcuts.

    Keys: conv1.weight, bn1.*, layer{1,2,3}.<block>.{conv1.weight, bn1.*, conv2.weight, bn2.*},
    fc.{weight,bias}. No downsample keys: the first blocks of layer2/layer3 (stride 2) carry a
    parameter-free ``shortcut`` (ChannelPadShortcut).
    Forward: conv1 3x3 pad 1 16, bn1, relu, layer1 (16 channels, 32x32), layer2 (32, 16x16),
    layer3 (64, 8x8), avgpool AdaptiveAvgPool2d(1), flatten, fc 64 -> num_classes.
    """

    def __init__(self, n, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
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
        x = F.flatten(x, 1)
        return self.fc(x)


def resnet20(num_classes=10):
    """CIFAR ResNet-20 (n=3) for (N, 3, 32, 32); 269,722 parameters, 41 M MACs per image."""
    return CifarResNet(3, num_classes)


def resnet56(num_classes=10):
    """CIFAR ResNet-56 (n=9) for (N, 3, 32, 32); 853,018 parameters, 125 M MACs per image."""
    return CifarResNet(9, num_classes)
