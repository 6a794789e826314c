"""pycnn.optim: optimizers with PyTorch's names, arguments, defaults and update rules.

Each step makes one fused C++ call per parameter (``_C.sgd_update``, ``_C.adam_update``,
``_C.rmsprop_update``): weight decay, momentum / moments and the update happen in one pass over the
parameter, in place, on the parameter's device. Parameters whose ``.grad`` is None or whose
``requires_grad`` is False are skipped, so frozen layers get no update (and no state).

``state_dict()`` returns plain data: ``{"state": {index: {name: numpy array or number}},
"param_groups": [{hyper-parameter: value, "params": [index, ...]}]}``, indices numbering the
parameters across groups in order, as torch does; ``load_state_dict`` accepts it back.
"""
import numbers
import warnings
from collections import defaultdict

import numpy as np

from .. import _C
from ..autograd import enable_grad
from ..tensor import Tensor, tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler"]


def _check_number(name, key, value, minimum=None, below=None, strict_minimum=False):
    """Raises TypeError unless ``value`` is a real number, ValueError unless it is in range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected {key} to be a number, got {type(value).__name__}")
    if minimum is not None and (value < minimum or (strict_minimum and value == minimum)):
        relation = ">" if strict_minimum else ">="
        raise ValueError(f"{name}: invalid {key} value: {value} (expected {key} {relation} {minimum})")
    if below is not None and not value < below:
        raise ValueError(f"{name}: invalid {key} value: {value} (expected {key} < {below})")


def _zeros_like(p):
    return Tensor._wrap(_C.zeros(list(p.shape), "float32", p.device))


class Optimizer:
    """Base class: holds ``param_groups`` (a list of dicts with ``'params'`` and hyper-parameters)
    and per-parameter ``state``; subclasses define ``_update(p, group, state)``.

    ``params``: an iterable of Tensors, or of dicts each with ``'params'`` (an iterable of Tensors)
    and hyper-parameters overriding ``defaults`` for that group.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)
        self.param_groups = []
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params should be an iterable of Tensors or dicts, got a "
                            "single Tensor (pass [tensor] or model.parameters())")
        if isinstance(params, dict):
            params = [params]
        try:
            groups = list(params)
        except TypeError:
            raise TypeError(f"{name}: params should be an iterable of Tensors or dicts, got "
                            f"{type(params).__name__}") from None
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ----- groups -----------------------------------------------------------------------------
    def _check_group(self, group):
        """Raises TypeError / ValueError naming the optimizer for an invalid hyper-parameter."""

    def add_param_group(self, param_group):
        """Adds a group: a dict with ``'params'``; missing hyper-parameters come from ``defaults``."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: expected a param group to be a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: a param group needs a 'params' entry, got keys "
                             f"{sorted(param_group)}")
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize pycnn.Tensor parameters, got "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (one computed by an "
                                 "op); optimize the leaf it came from")
            if p.dtype != "float32":
                raise TypeError(f"{name}: can only optimize float32 parameters, got {p.dtype}")
        if len({id(p) for p in group["params"]}) != len(group["params"]):
            warnings.warn(f"{name}: a parameter group holds the same parameter more than once; "
                          "it is updated once per occurrence", UserWarning, stacklevel=3)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # ----- stepping ---------------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Drops every parameter's gradient (``set_to_none``) or zeroes it in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()

    def step(self, closure=None):
        """One update of every parameter that has a gradient. ``closure`` (optional) re-evaluates
        the model and returns the loss, which ``step`` returns."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._check_group(group)
            for p in group["params"]:
                if p.grad is None or not p.requires_grad:
                    continue
                if not isinstance(p.grad, Tensor):
                    raise TypeError(f"{type(self).__name__}: expected .grad to be a pycnn.Tensor "
                                    f"or None, got {type(p.grad).__name__}")
                self._update(p, group, self.state[p])
        return loss

    def _update(self, p, group, state):
        raise NotImplementedError(f"{type(self).__name__} does not define its update")

    # ----- saving -----------------------------------------------------------------------------
    def state_dict(self):
        """Plain data: numpy arrays (copies) and numbers, indexed like torch's state_dict."""
        index = {}
        groups = []
        for group in self.param_groups:
            saved = {k: v for k, v in group.items() if k != "params"}
            saved["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                saved["params"].append(index[id(p)])
            groups.append(saved)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and self.state[p]:
                    state[index[id(p)]] = {
                        k: (np.array(v.numpy(), copy=True) if isinstance(v, Tensor) else v)
                        for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restores hyper-parameters and state saved by :meth:`state_dict` (arrays go to each
        parameter's device). Raises ValueError when the groups or shapes do not match."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError(f"{name}.load_state_dict: expected a dict with keys 'state' and "
                             f"'param_groups', got {type(state_dict).__name__}"
                             + (f" with keys {sorted(state_dict)}" if isinstance(state_dict, dict)
                                else ""))
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state dict has {len(saved_groups)} "
                             f"parameter groups, this optimizer has {len(self.param_groups)}")
        by_index = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {i} has "
                                 f"{len(saved['params'])} parameters in the state dict, "
                                 f"{len(group['params'])} in this optimizer")
            for k, p in zip(saved["params"], group["params"]):
                by_index[int(k)] = p
        new_state = defaultdict(dict)
        for k, entry in state_dict["state"].items():
            if int(k) not in by_index:
                raise ValueError(f"{name}.load_state_dict: state for parameter {k}, which no "
                                 "parameter group holds")
            p = by_index[int(k)]
            restored = {}
            for key, value in entry.items():
                if isinstance(value, (np.ndarray, Tensor)):
                    array = value.numpy() if isinstance(value, Tensor) else value
                    if tuple(array.shape) != tuple(p.shape):
                        raise ValueError(f"{name}.load_state_dict: state '{key}' of parameter {k} "
                                         f"has shape {tuple(array.shape)}, the parameter has "
                                         f"{tuple(p.shape)}")
                    value = tensor(np.asarray(array, dtype=np.float32), device=p.device)
                elif isinstance(value, np.generic):
                    value = value.item()
                restored[key] = value
            new_state[p] = restored
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            restored = {k: v for k, v in saved.items() if k != "params"}
            restored["params"] = group["params"]
            self._check_group(restored)
            new_groups.append(restored)
        self.state = new_state
        self.param_groups = new_groups

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        lines.append(")")
        return "\n".join(lines)


class SGD(Optimizer):
    """Stochastic gradient descent (optionally with momentum, Nesterov momentum, weight decay), as
    torch.optim.SGD: ``g = grad + weight_decay * p``; ``buf = momentum * buf + (1 - dampening) * g``
    (``g`` on the first step); ``g = g + momentum * buf`` if nesterov else ``buf``; ``p -= lr * g``.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group):
        _check_number("SGD", "lr", group["lr"], minimum=0)
        _check_number("SGD", "momentum", group["momentum"], minimum=0)
        _check_number("SGD", "dampening", group["dampening"])
        _check_number("SGD", "weight_decay", group["weight_decay"], minimum=0)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum requires a momentum > 0 and zero dampening, "
                             f"got momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, p, group, state):
        momentum = group["momentum"]
        buf = None
        first_step = False
        if momentum != 0:
            buf = state.get("momentum_buffer")
            first_step = buf is None
            if first_step:
                buf = _zeros_like(p)
                state["momentum_buffer"] = buf
        _C.sgd_update(p._data, p.grad._data, None if buf is None else buf._data, group["lr"],
                      momentum, group["dampening"], group["weight_decay"], bool(group["nesterov"]),
                      bool(group["maximize"]), first_step)


class Adam(Optimizer):
    """Adam, as torch.optim.Adam (``amsgrad``, ``maximize``; ``decoupled_weight_decay=True`` is
    AdamW). Bias corrections use this parameter's own step count, as torch does."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
                 *, maximize=False, decoupled_weight_decay=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group):
        name = type(self).__name__
        _check_number(name, "lr", group["lr"], minimum=0)
        _check_number(name, "eps", group["eps"], minimum=0)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{name}: expected betas to be a pair (beta1, beta2), got {betas!r}")
        for i, beta in enumerate(betas):
            _check_number(name, f"betas[{i}]", beta, minimum=0, below=1)
        _check_number(name, "weight_decay", group["weight_decay"], minimum=0)

    def _update(self, p, group, state):
        if not state:
            state["step"] = 0
            state["exp_avg"] = _zeros_like(p)
            state["exp_avg_sq"] = _zeros_like(p)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = _zeros_like(p)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        vmax = state["max_exp_avg_sq"]._data if group["amsgrad"] else None
        _C.adam_update(p._data, p.grad._data, state["exp_avg"]._data, state["exp_avg_sq"]._data,
                       vmax, state["step"], group["lr"], beta1, beta2, group["eps"],
                       group["weight_decay"], bool(group["amsgrad"]), bool(group["maximize"]),
                       bool(group["decoupled_weight_decay"]))


class AdamW(Adam):
    """Adam with decoupled weight decay (``p *= 1 - lr * weight_decay`` before the Adam step), as
    torch.optim.AdamW; weight_decay defaults to 1e-2."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)


class RMSprop(Optimizer):
    """RMSprop, as torch.optim.RMSprop (``centered``, ``momentum``, ``maximize``)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        self._check_group(defaults)
        super().__init__(params, defaults)

    def _check_group(self, group):
        _check_number("RMSprop", "lr", group["lr"], minimum=0)
        _check_number("RMSprop", "eps", group["eps"], minimum=0)
        _check_number("RMSprop", "momentum", group["momentum"], minimum=0)
        _check_number("RMSprop", "weight_decay", group["weight_decay"], minimum=0)
        _check_number("RMSprop", "alpha", group["alpha"], minimum=0)

    def _update(self, p, group, state):
        if not state:
            state["step"] = 0
            state["square_avg"] = _zeros_like(p)
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = _zeros_like(p)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = _zeros_like(p)
        state["step"] += 1
        grad_avg = state["grad_avg"]._data if group["centered"] else None
        buf = state["momentum_buffer"]._data if group["momentum"] > 0 else None
        _C.rmsprop_update(p._data, p.grad._data, state["square_avg"]._data, grad_avg, buf,
                          group["lr"], group["alpha"], group["eps"], group["weight_decay"],
                          group["momentum"], bool(group["centered"]), bool(group["maximize"]))


from . import lr_scheduler  # noqa: E402  (the schedulers need Optimizer defined first)
