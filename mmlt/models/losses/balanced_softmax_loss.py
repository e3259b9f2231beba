from typing import Optional

from mmpretrain.registry import MODELS

from .class_count_loss import ClassCounts
from .logit_adjust_loss import LogitAdjustLoss


@MODELS.register_module()
class BalancedSoftmaxLoss(LogitAdjustLoss):
    r"""Balanced Softmax cross-entropy: :class:`LogitAdjustLoss` with
    ``tau=1``, registered under the name of its paper.

    Refers to `Balanced Meta-Softmax for Long-Tailed Visual Recognition
    (NeurIPS 2020) <https://arxiv.org/abs/2007.10740>`_, equation (4). The
    training softmax weights each class by its number of training images
    :math:`n_j`, which compensates the label shift between the long-tailed
    training set and a balanced test set:

    .. math::
        \hat{p}_j = \frac{n_j e^{z_j}}{\sum_{j'} n_{j'} e^{z_{j'}}},
        \qquad \ell(z, y) = -\log \hat{p}_y
        = \mathrm{CE}(z + \log n, y) = \mathrm{CE}(z + \log \pi, y),

    since :math:`\log n_j` and :math:`\log \pi_j = \log n_j - \log \sum_{j'}
    n_{j'}` differ by a constant that the softmax removes. Prediction uses
    the raw logits (the plain softmax).

    Args:
        class_counts (Sequence[float], optional): Training images per class.
            Defaults to None: :class:`ClassCountsHook` sets them.
        num_classes (int, optional): Number of classes. Defaults to None.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
            Defaults to ``'mean'``.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 class_counts: Optional[ClassCounts] = None,
                 num_classes: Optional[int] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(
            tau=1.0,
            class_counts=class_counts,
            num_classes=num_classes,
            reduction=reduction,
            loss_weight=loss_weight)

    def extra_repr(self) -> str:
        return f'num_classes={self.num_classes}'
