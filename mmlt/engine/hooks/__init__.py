from .class_counts_hook import ClassCountsHook
from .loss_epoch_hook import LossEpochHook
from .accumulated_gradient_hook import AccumulatedGradientHook
from .class_accuracy_hook import ClassAccuracyHook
from .classifier_retraining_hook import ClassifierRetrainingHook
from .long_tail_check_hook import LongTailCheckHook

__all__ = [
    'ClassCountsHook', 'LossEpochHook', 'AccumulatedGradientHook',
    'ClassifierRetrainingHook', 'ClassAccuracyHook', 'LongTailCheckHook'
]
