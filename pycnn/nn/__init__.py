"""pycnn.nn: layers (Modules) and the functional ops they are built from."""
from . import functional
from . import init
from .layers import (ELU, GELU, AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d,
                     CrossEntropyLoss, Dropout, Flatten, Hardsigmoid, Hardswish, Hardtanh, LeakyReLU,
                     Linear, LocalResponseNorm, LogSoftmax, MaxPool2d, MSELoss, NLLLoss, PReLU, ReLU,
                     ReLU6, SiLU, Sigmoid, Softmax, Softplus, Tanh)
from .module import Identity, Module, ModuleDict, ModuleList, Parameter, Sequential
from . import parallel
