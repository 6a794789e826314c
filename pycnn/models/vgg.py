"""VGG (Simonyan & Zisserman 2014), configurations A, B, D, E with and without batch norm."""
from .. import nn
from ..nn import functional as F
from ..nn import init
from .alexnet import _fc_classifier

# Output channels of each 3x3 conv, "M" for a 2x2 max pool.
VGG_CONFIGS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}

# (parameters, multiply-accumulates per 224x224 image) at 1000 classes, without batch norm.
_SIZES = {
    "vgg11": ("132,863,336", "7.6 G"),
    "vgg13": ("133,047,848", "11.3 G"),
    "vgg16": ("138,357,544", "15.5 G"),
    "vgg19": ("143,667,240", "19.6 G"),
}


class VGG(nn.Module):
    """VGG as torchvision defines it, for (N, 3, 224, 224).

    Keys: features.<i>.{weight,bias} for each conv (with batch_norm also features.<i+1>.{weight,
    bias,running_mean,running_var,num_batches_tracked}), classifier.{0,3,6}.{weight,bias}.
    features: per config entry a conv 3x3 pad 1 [+ BatchNorm2d] + relu, or maxpool 2/2 for "M";
    avgpool AdaptiveAvgPool2d(7); flatten; classifier: 25088->4096, relu, dropout,
    4096->4096, relu, dropout, 4096->num_classes. Init is torchvision's (kaiming normal fan_out
    convs, N(0, 0.01) linears, zero biases).
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
            layers.append(nn.ReLU(inplace=True))
            in_channels = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = _fc_classifier(512 * 7 * 7, num_classes, dropout, dropout_first=False)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                init.normal_(m.weight, 0, 0.01)
                init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = F.flatten(x, 1)
        return self.classifier(x)


def _vgg_builder(name, batch_norm):
    def build(num_classes=1000, dropout=0.5):
        return VGG(VGG_CONFIGS[name], batch_norm, num_classes, dropout)

    params, macs = _SIZES[name]
    build.__name__ = build.__qualname__ = name + ("_bn" if batch_norm else "")
    build.__doc__ = (f"{build.__name__} (torchvision layout{', with batch norm' if batch_norm else ''}) "
                     f"for (N, 3, 224, 224); {macs} MACs per image"
                     + ("" if batch_norm else f", {params} parameters at 1000 classes") + ".")
    return build


vgg11 = _vgg_builder("vgg11", False)
vgg13 = _vgg_builder("vgg13", False)
vgg16 = _vgg_builder("vgg16", False)
vgg19 = _vgg_builder("vgg19", False)
vgg11_bn = _vgg_builder("vgg11", True)
vgg13_bn = _vgg_builder("vgg13", True)
vgg16_bn = _vgg_builder("vgg16", True)
vgg19_bn = _vgg_builder("vgg19", True)
