"""DenseNet-BC (Huang et al. 2016) as torchvision defines it: DenseNet-121, -169, -201."""
from collections import OrderedDict

from .. import nn
from ..nn import functional as F
from ..nn import init
from .resnet import _init_conv_bn


class DenseLayer(nn.Module):
    """Bottleneck layer: norm1, relu1, conv1 1x1 (bn_size * growth_rate, no bias), norm2, relu2,
    conv2 3x3 pad 1 (growth_rate, no bias). Its input is the block's features so far, concatenated.

    Keys: norm1.*, conv1.weight, norm2.*, conv2.weight.
    """

    def __init__(self, in_channels, growth_rate, bn_size):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x):
        x = self.conv1(self.relu1(self.norm1(x)))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseBlock(nn.Module):
    """denselayer1..denselayerL; layer i sees the block input concatenated with every earlier output.

    Keys: denselayer<i>.* (torchvision's names). Forward: features = [x]; each layer appends
    layer(cat(features, 1)); returns cat(features, 1), in_channels + L * growth_rate channels.
    """

    def __init__(self, num_layers, in_channels, growth_rate, bn_size):
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, x):
        features = [x]
        for layer in self.children():
            features.append(layer(F.cat(features, 1)))
        return F.cat(features, 1)


class Transition(nn.Sequential):
    """norm, relu, conv 1x1 (no bias) to out_channels, pool AvgPool2d(2, 2). Keys: norm.*, conv.weight."""

    def __init__(self, in_channels, out_channels):
        super().__init__(OrderedDict([
            ("norm", nn.BatchNorm2d(in_channels)),
            ("relu", nn.ReLU(inplace=True)),
            ("conv", nn.Conv2d(in_channels, out_channels, 1, bias=False)),
            ("pool", nn.AvgPool2d(kernel_size=2, stride=2)),
        ]))


class DenseNet(nn.Module):
    """DenseNet-BC as torchvision defines it (growth 32, bn_size 4, compression 0.5, no dropout).

    Keys: features.conv0.weight, features.norm0.*, features.denseblock<b>.denselayer<i>.*,
    features.transition<b>.* (b = 1..3), features.norm5.*, classifier.{weight,bias}.
    Forward: features (conv0 7x7/2 pad 3 64, norm0, relu0, pool0 maxpool 3/2 pad 1 -> 56x56 at 224,
    denseblock1, transition1, ..., denseblock4, norm5), functional relu,
    adaptive_avg_pool2d(1), flatten, classifier.
    """

    def __init__(self, block_config, growth_rate=32, num_init_features=64, bn_size=4,
                 num_classes=1000):
        super().__init__()
        layers = OrderedDict([
            ("conv0", nn.Conv2d(3, num_init_features, 7, stride=2, padding=3, bias=False)),
            ("norm0", nn.BatchNorm2d(num_init_features)),
            ("relu0", nn.ReLU(inplace=True)),
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
        init.zeros_(self.classifier.bias)

    def forward(self, x):
        x = F.relu(self.features(x), inplace=True)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        x = F.flatten(x, 1)
        return self.classifier(x)


def densenet121(num_classes=1000):
    """DenseNet-121 for (N, 3, 224, 224); 7,978,856 parameters, 2.8 G MACs per image."""
    return DenseNet((6, 12, 24, 16), num_classes=num_classes)


def densenet169(num_classes=1000):
    """DenseNet-169 for (N, 3, 224, 224); 14,149,480 parameters, 3.4 G MACs per image."""
    return DenseNet((6, 12, 32, 32), num_classes=num_classes)


def densenet201(num_classes=1000):
    """DenseNet-201 for (N, 3, 224, 224); 20,013,928 parameters, 4.3 G MACs per image."""
    return DenseNet((6, 12, 48, 32), num_classes=num_classes)
