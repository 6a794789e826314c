"""Layers: Modules that hold an op's parameters and hyper-parameters and call pycnn.nn.functional,
one file per family as pycnn.nn.functional and torch.nn.modules: conv, linear (and Flatten),
pooling, normalization (BatchNorm1d/2d, LocalResponseNorm, LayerNorm, GroupNorm, InstanceNorm1d/2d),
dropout, activation, loss, padding, distance.

Constructors, attribute names, default initialisation and ``extra_repr`` follow torch.nn, so a model
written for PyTorch reads the same here and its state_dict keys match.
"""
from .activation import (CELU, ELU, GELU, GLU, SELU, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU, LogSigmoid,
                         LogSoftmax, Mish, PReLU, ReLU, ReLU6, SiLU, Sigmoid, Softmax, Softmin, Softplus, Softsign,
                         Tanh, Tanhshrink)
from .conv import Conv2d, ConvTranspose2d
from .distance import CosineSimilarity
from .dropout import Dropout, Dropout1d, Dropout2d
from .linear import Flatten, Linear
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss, L1Loss, MSELoss, NLLLoss,
                   SmoothL1Loss)
from .normalization import (BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm1d, InstanceNorm2d, LayerNorm,
                            LocalResponseNorm, _BatchNorm)
from .one_dimensional import AvgPool1d, Conv1d, MaxPool1d
from .padding import (ConstantPad1d, ConstantPad2d, ReflectionPad1d, ReflectionPad2d, ReplicationPad1d,
                      ReplicationPad2d, ZeroPad1d, ZeroPad2d)
from .pixel_shuffle import PixelShuffle, PixelUnshuffle
from .upsampling import Upsample
from .pooling import AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, MaxPool2d
