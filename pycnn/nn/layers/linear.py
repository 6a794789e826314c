"""Fully connected layers, as torch.nn.modules.linear: Linear, and Flatten, which turns a feature map
into the (N, features) rows a Linear head takes. pycnn.nn.functional computes."""
from .. import functional as F
from ..module import Module
from ._utils import add_weight_and_bias, positive_int, reset_weight_and_bias


class Linear(Module):
    """y = x @ weight.T + bias: (*, in_features) -> (*, out_features).
    weight (out_features, in_features), bias (out_features,)."""

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features = positive_int(in_features, "Linear", "in_features")
        self.out_features = positive_int(out_features, "Linear", "out_features")
        add_weight_and_bias(self, (self.out_features, self.in_features), bias)
        self.reset_parameters()

    def reset_parameters(self):
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merges dimensions start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
