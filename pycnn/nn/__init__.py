"""pycnn.nn: layers (Modules) and the functional ops they are built from."""
from . import functional
from . import init
from .layers import (ELU, GELU, AdaptiveAvgPool2d, AvgPool1d, AvgPool2d, BatchNorm1d, BatchNorm2d, BCELoss,
                     BCEWithLogitsLoss, ConstantPad1d, ConstantPad2d, Conv1d, Conv2d, HuberLoss, L1Loss,
                     ReflectionPad1d, ReflectionPad2d, ReplicationPad1d, ReplicationPad2d, SmoothL1Loss,
                     ZeroPad1d, ZeroPad2d,
                     ConvTranspose2d, MaxPool1d,
                     CrossEntropyLoss, Dropout, Flatten, GroupNorm, Hardsigmoid, Hardswish, Hardtanh,
                     InstanceNorm1d, InstanceNorm2d, LayerNorm, LeakyReLU, Linear, LocalResponseNorm,
                     LogSoftmax, MaxPool2d, MSELoss, NLLLoss, PixelShuffle, PixelUnshuffle, PReLU, ReLU,
                     ReLU6, SiLU, Sigmoid, Softmax, Softplus, Tanh, Upsample)
from .module import Identity, Module, ModuleDict, ModuleList, Parameter, Sequential
from . import parallel
