"""Normalisation: batch_norm (per channel, with running statistics) and local_response_norm (across
channels, AlexNet's LRN) over the C++ kernels cpp/src/{cpu,cuda}/<op>.* (bindings:
cpp/bindings/<op>.cpp)."""
from ... import _C
from ..._arguments import as_float, as_int
from ...autograd import Function
from ...tensor import as_tensor


class BatchNormFunction(Function):
    relu = False  # True once a ReLU applied in place to the output fused into this batch norm

    def forward(self, x, running_mean, running_var, w, b, training, momentum, eps):
        y, mean, rstd = _C.batch_norm_forward(x, running_mean, running_var, w, b, training,
                                              momentum, eps)
        self.saved = (x, mean, rstd, w, b, training)
        return y

    def absorb_relu(self):
        """Called by relu(inplace=True) on this batch norm's output before any op has read it: from
        now on the output is relu(batch_norm(x)) and backward takes the ReLU's gradient into its own
        passes (the kernel recomputes the output's sign from x, so the ReLU saves nothing). Returns
        False where that cannot be (an op already took the output, a CUDA input, already fused,
        or a backward already freed what the forward saved)."""
        saved = self.__dict__.get("saved")
        if saved is None or getattr(self, "consumed", False) or self.relu or saved[0].device != "cpu":
            return False
        self.relu = True
        return True

    def backward(self, grad):
        x, mean, rstd, w, b, training = self.saved
        need_x, _, _, need_w, need_b = self.needs_input_grad[:5]
        dx, dw, db = _C.batch_norm_backward(grad, x, mean, rstd, w, training, need_x, need_w, need_b,
                                            b, self.relu)
        return dx, None, None, dw, db, None, None, None


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Per-channel normalisation. input (N, C, *), running_mean/running_var/weight/bias (C,)
    -> (N, C, *).

    Training normalises with the batch's mean and biased variance and, when running_mean/running_var
    are given, updates them in place: running = (1 - momentum) * running + momentum * batch, with the
    unbiased variance for running_var (as torch). Eval normalises with the running statistics, which
    must then be given. The running statistics are plain tensors, not part of the tape."""
    as_tensor(input, "batch_norm", "input")
    for name, value in (("running_mean", running_mean), ("running_var", running_var),
                        ("weight", weight), ("bias", bias)):
        if value is not None:
            as_tensor(value, "batch_norm", name)
    for name, value in (("running_mean", running_mean), ("running_var", running_var)):
        if value is not None and value.requires_grad:
            raise ValueError(f"batch_norm: {name} is updated in place and must not require grad")
    momentum = as_float(momentum, "batch_norm", "momentum")
    eps = as_float(eps, "batch_norm", "eps")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: running_mean and running_var must be given when training is False")
    return BatchNormFunction.apply(input, running_mean, running_var, weight, bias, bool(training),
                                   momentum, eps)


# ----- local_response_norm ------------------------------------------------------------------------
class LocalResponseNormFunction(Function):
    def forward(self, x, size, before, alpha, beta, k):
        y, scale = _C.local_response_norm_forward(x, size, before, alpha, beta, k)
        self.saved = (x, scale, size, before, alpha, beta, k)
        return y

    def backward(self, grad):
        x, scale, size, before, alpha, beta, k = self.saved
        return (_C.local_response_norm_backward(grad, x, scale, size, before, alpha, beta, k),
                None, None, None, None, None)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0, *, window_before=None):
    """Normalisation across channels. input (N, C, *) with at least 3 dimensions -> same shape:

        b_c = a_c / (k + alpha / size * sum_{j in window(c)} a_j^2) ** beta

    window(c) = [c - window_before, c - window_before + size - 1], clipped to [0, C) (zero padding;
    the divisor stays ``size``). ``window_before`` defaults to ``size // 2``, PyTorch's window; ONNX's
    LRN centres the window the other way for even sizes and is ``window_before=(size - 1) // 2``."""
    as_tensor(input, "local_response_norm", "input")
    size = as_int(size, "local_response_norm", "size")
    if size <= 0:
        raise ValueError(f"local_response_norm: expected size > 0, got {size}")
    before = size // 2 if window_before is None else as_int(window_before, "local_response_norm",
                                                          "window_before")
    if not 0 <= before <= size - 1:
        raise ValueError(f"local_response_norm: expected window_before in [0, size - 1] = "
                         f"[0, {size - 1}], got {before}")
    alpha = as_float(alpha, "local_response_norm", "alpha")
    beta = as_float(beta, "local_response_norm", "beta")
    k = as_float(k, "local_response_norm", "k")
    return LocalResponseNormFunction.apply(input, size, before, alpha, beta, k)
