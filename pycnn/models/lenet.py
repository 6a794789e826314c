"""LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, for 1x28x28 input (MNIST)."""
from .. import nn
from ..nn import functional as F


class LeNet5(nn.Module):
    """LeNet-5 with ReLU and max pooling; the layout of tools/reference_models.py.

    Keys: features.{0,3}.{weight,bias}, classifier.{0,2,4}.{weight,bias}.
    features: conv 5x5 pad 2 -> 6x28x28, relu, maxpool 2 -> 6x14x14, conv 5x5 -> 16x10x10, relu,
    maxpool 2 -> 16x5x5; flatten -> 400; classifier: 400->120, relu, 120->84, relu, 84->num_classes.
    Input (N, 1, 28, 28), output (N, num_classes).
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
        x = F.flatten(x, 1)
        return self.classifier(x)


def lenet5(num_classes=10):
    """LeNet-5 for (N, 1, 28, 28) input; 61,706 parameters and 0.42 M MACs per image at 10 classes."""
    return LeNet5(num_classes)
