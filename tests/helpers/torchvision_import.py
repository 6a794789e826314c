"""import_torchvision(): torchvision for the tests, or a skip where it is not installed.

The registry's torchvision wheel is built against CUDA torch, and importing it next to the pinned CPU
torch fails while it registers fake kernels for its C ops (torchvision::nms, torchvision::qnms), which
the CPU torch has never heard of. Declaring the two schemas first is enough for the models: no
classifier calls them.
"""
import pytest


def import_torchvision():
    torch = pytest.importorskip("torch")
    for op in ("nms", "qnms"):
        try:
            torch.library.define(f"torchvision::{op}", "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        except RuntimeError:  # declared already, by an earlier call or by torchvision's own C library
            pass
    return pytest.importorskip("torchvision")
