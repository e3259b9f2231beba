from .balanced_softmax_loss import BalancedSoftmaxLoss
from .class_count_loss import ClassCountLoss
from .ldam_loss import LDAMLoss
from .logit_adjust_loss import LogitAdjustLoss
from .lort_loss import LORTLoss, lort_eps_from_ratio, lort_target_ratio
from .gala_loss import GALALoss

__all__ = [
    'BalancedSoftmaxLoss', 'ClassCountLoss', 'LDAMLoss', 'LogitAdjustLoss',
    'LORTLoss', 'GALALoss', 'lort_eps_from_ratio', 'lort_target_ratio'
]
