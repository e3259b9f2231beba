import torch

from mmpretrain.registry import DATA_SAMPLERS
from .class_weighted_sampler import ClassWeightedSampler


@DATA_SAMPLERS.register_module()
class SquareRootSampler(ClassWeightedSampler):
    """Square-root sampling (Mahajan et al., ECCV 2018).

    Draws class ``c`` with probability
    :math:`p_c = \\sqrt{n_c} / \\sum_{c'} \\sqrt{n_{c'}}` for ``n_c``
    images of class ``c``, then an image of it uniformly. See
    :class:`ClassWeightedSampler` for the arguments, the epoch length and
    the distributed behaviour.
    """

    def class_weights(self, class_counts: torch.Tensor) -> torch.Tensor:
        """Square root of the class sizes."""
        return class_counts.sqrt()
