import torch

from mmpretrain.registry import DATA_SAMPLERS
from .class_weighted_sampler import ClassWeightedSampler


@DATA_SAMPLERS.register_module()
class ClassAwareSampler(ClassWeightedSampler):
    """Class-aware (class-balanced) sampling (Shen et al., ECCV 2016).

    Draws a class uniformly, :math:`p_c = 1 / C`, then an image of it
    uniformly, so every class is seen equally often whatever its size. See
    :class:`ClassWeightedSampler` for the arguments, the epoch length and
    the distributed behaviour.
    """

    def class_weights(self, class_counts: torch.Tensor) -> torch.Tensor:
        """Equal weight for every class."""
        return torch.ones_like(class_counts)
