"""Distance layers, as torch.nn.modules.distance: CosineSimilarity."""
from ..._arguments import as_float, as_int
from .. import functional as F
from ..module import Module


class CosineSimilarity(Module):
    """The cosine of the angle between two inputs along ``dim`` (broadcast; the result drops dim), as
    torch.nn.CosineSimilarity."""

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim = as_int(dim, "CosineSimilarity", "dim")
        self.eps = as_float(eps, "CosineSimilarity", "eps")

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)
