"""pycnn.nn.module: Module and Parameter, and the containers built on them (Sequential, ModuleList,
ModuleDict), one file each as torch.nn.modules: module.py, parameter.py, container.py."""
from .container import ModuleDict, ModuleList, Sequential
from .module import Identity, Module, RemovableHandle, _IncompatibleKeys
from .parameter import Parameter
