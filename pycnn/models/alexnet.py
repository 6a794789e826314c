"""AlexNet (torchvision's single tower, or the 2012 paper's grouped network) and ZFNet."""
from .. import nn
from ..nn import functional as F


def _fc_classifier(in_features, num_classes, dropout, dropout_first):
    """The 4096-4096-classes head. AlexNet (and ZFNet) put dropout before each of the first two
    linears (keys classifier.{1,4,6}); VGG puts it after their ReLUs (keys classifier.{0,3,6})."""
    if dropout_first:
        layers = [
            nn.Dropout(p=dropout), nn.Linear(in_features, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        ]
    else:
        layers = [
            nn.Linear(in_features, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        ]
    return nn.Sequential(*layers)


def _lrn():
    # torch and pycnn divide alpha by size: this is alpha = 2e-5 in the paper's formula.
    return nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)


class AlexNet(nn.Module):
    """AlexNet as torchvision defines it, or the paper's network with ``original=True``.

    torchvision (default), for (N, 3, 224, 224); 61,100,840 parameters, 0.71 G MACs at 1000 classes.
      Keys features.{0,3,6,8,10}.*, classifier.{1,4,6}.*.
      features: conv 11x11/4 pad 2 64, relu, maxpool 3/2, conv 5x5 pad 2 192, relu, maxpool 3/2,
      conv 3x3 pad 1 384, relu, conv 3x3 pad 1 256, relu, conv 3x3 pad 1 256, relu, maxpool 3/2.
    Paper (``original=True``), for (N, 3, 227, 227); 60,965,224 parameters at 1000 classes.
      Keys features.{0,4,8,10,12}.*, classifier.{1,4,6}.*.
      features: conv1 11x11/4 96 -> 55x55, relu, LRN, maxpool 3/2 -> 27; conv2 5x5 pad 2 256
      groups=2, relu, LRN, maxpool 3/2 -> 13; conv3 3x3 pad 1 384; relu; conv4 3x3 pad 1 384
      groups=2, relu; conv5 3x3 pad 1 256 groups=2, relu, maxpool 3/2 -> 6. The two GPU towers
      are the groups=2 convolutions. LRN: LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2).
    Both: avgpool AdaptiveAvgPool2d(6) (the identity at the nominal input size), flatten,
    classifier: dropout, 9216->4096, relu, dropout, 4096->4096, relu, 4096->num_classes.
    """

    def __init__(self, num_classes=1000, dropout=0.5, original=False):
        super().__init__()
        if original:
            self.features = nn.Sequential(
                nn.Conv2d(3, 96, kernel_size=11, stride=4),
                nn.ReLU(inplace=True),
                _lrn(),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(96, 256, kernel_size=5, padding=2, groups=2),
                nn.ReLU(inplace=True),
                _lrn(),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(256, 384, kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(384, 384, kernel_size=3, padding=1, groups=2),
                nn.ReLU(inplace=True),
                nn.Conv2d(384, 256, kernel_size=3, padding=1, groups=2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2),
            )
        else:
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(64, 192, kernel_size=5, padding=2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(192, 384, kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(384, 256, kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(256, 256, kernel_size=3, padding=1),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2),
            )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _fc_classifier(256 * 6 * 6, num_classes, dropout, dropout_first=True)

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = F.flatten(x, 1)
        return self.classifier(x)


def alexnet(num_classes=1000, dropout=0.5, original=False):
    """AlexNet: torchvision's single tower for (N, 3, 224, 224), or with ``original=True`` the
    paper's grouped network for (N, 3, 227, 227)."""
    return AlexNet(num_classes, dropout, original)


class ZFNet(nn.Module):
    """Zeiler & Fergus 2014 (their figure 3 model) for (N, 3, 224, 224); 62,357,608 parameters.

    Keys: features.{0,4,8,10,12}.*, classifier.{1,4,6}.* (AlexNet's head).
    features: conv1 7x7/2 pad 1 96 -> 110, relu, maxpool 3/2 ceil -> 55, LRN; conv2 5x5/2 256
    -> 26, relu, maxpool 3/2 ceil -> 13, LRN; conv3 3x3 pad 1 384, relu, conv4 3x3 pad 1 384, relu,
    conv5 3x3 pad 1 256, relu, maxpool 3/2 ceil -> 6. The paper gives only the sizes
    110 -> 55 -> 26 -> 13 -> 6; these paddings are the smallest that produce them, and ceil_mode
    pooling is Caffe's convention. Then avgpool AdaptiveAvgPool2d(6), flatten, AlexNet's classifier.
    """

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, kernel_size=7, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            _lrn(),
            nn.Conv2d(96, 256, kernel_size=5, stride=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            _lrn(),
            nn.Conv2d(256, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = _fc_classifier(256 * 6 * 6, num_classes, dropout, dropout_first=True)

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = F.flatten(x, 1)
        return self.classifier(x)


def zfnet(num_classes=1000, dropout=0.5):
    """ZFNet for (N, 3, 224, 224) input."""
    return ZFNet(num_classes, dropout)
