"""pycnn.nn: layers (Modules) and the functional ops they are built from."""
from . import functional
from . import init
from .layers import (AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool1d, AvgPool2d, BatchNorm1d, BatchNorm2d, BCELoss,
                     BCEWithLogitsLoss, CELU, ConstantPad1d, ConstantPad2d, Conv1d, Conv2d, ConvTranspose2d,
                     CosineSimilarity, CrossEntropyLoss, Dropout, Dropout1d, Dropout2d, ELU, Flatten, GELU, GLU,
                     GroupNorm, Hardsigmoid, Hardswish, Hardtanh, HuberLoss, InstanceNorm1d, InstanceNorm2d,
                     KLDivLoss, L1Loss, LayerNorm, LeakyReLU, Linear, LocalResponseNorm, LogSigmoid, LogSoftmax,
                     MaxPool1d, MaxPool2d, Mish, MSELoss, NLLLoss, PixelShuffle, PixelUnshuffle, PReLU,
                     ReflectionPad1d, ReflectionPad2d, ReLU, ReLU6, ReplicationPad1d, ReplicationPad2d, SELU,
                     Sigmoid, SiLU, SmoothL1Loss, Softmax, Softmin, Softplus, Softsign, Tanh, Tanhshrink, Upsample,
                     ZeroPad1d, ZeroPad2d)
from .module import Identity, Module, ModuleDict, ModuleList, Parameter, Sequential
from . import parallel
