"""Classic CNN architectures, each a builder ``name(num_classes=..., ...)`` returning a pycnn.nn.Module.

Every model has torchvision's attribute names (or, for the models torchvision lacks, those of
tools/reference_models.py), so ``state_dict()`` keys equal those of the PyTorch definition one to one
and its weights load with ``load_state_dict``. Inputs are NCHW float32: (N, 1, 28, 28) for LeNet-5,
(N, 3, 32, 32) for the CIFAR ResNets, (N, 3, 224, 224) for the rest (AlexNet's paper layout 227).

``MODELS`` maps each name to its builder; ``list_models()`` lists the names and
``get_model(name, **kwargs)`` builds one by name.
"""
from .alexnet import AlexNet, ZFNet, alexnet, zfnet
from .densenet import DenseNet, densenet121, densenet169, densenet201
from .googlenet import GoogLeNet, googlenet
from .lenet import LeNet5, lenet5
from .resnet import (CifarResNet, ResNet, resnet18, resnet20, resnet34, resnet50, resnet56, resnet101,
                     resnet152)
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn

MODELS = {
    builder.__name__: builder
    for builder in (
        lenet5, alexnet, zfnet,
        vgg11, vgg13, vgg16, vgg19, vgg11_bn, vgg13_bn, vgg16_bn, vgg19_bn,
        googlenet,
        resnet18, resnet34, resnet50, resnet101, resnet152,
        densenet121, densenet169, densenet201,
        resnet20, resnet56,
    )
}


def list_models():
    """The names of every model builder, in MODELS order."""
    return list(MODELS)


def get_model(name, **kwargs):
    """Builds the model ``name`` with the builder's keyword arguments (num_classes=..., ...)."""
    if name not in MODELS:
        raise ValueError(f"get_model: unknown model {name!r}; expected one of {', '.join(MODELS)}")
    return MODELS[name](**kwargs)
