"""PyTorch's pooling output size (pooling_output_shape), written out independently of pycnn's C++ one,
for the pooling tests to pick valid geometries and to count ceil_mode's extra windows."""


def pool_output_size(size, kernel, stride, padding, dilation, ceil_mode):
    """Output length of a pooling window along one axis of length ``size``. With ceil_mode the last
    window may run past the input, but not start in the end padding."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out
