"""Classifier re-training on cached features of a frozen representation
(the LORT paper's study): the feature cache, the registered methods and
the batched grid training. The study itself is :mod:`.study`, its writers
:mod:`.report`, the command line :mod:`.tool`."""
from .feature_cache import (FeatureCache, ForeignCacheError,
                            build_feature_cache, cache_fingerprint)
from .methods import (RETRAINING_METHODS, RetrainingMethod, build_method,
                      method_names, retraining_loss)
from .trainer import RetrainingSchedule, epoch_indices, train_candidates

__all__ = [
    'FeatureCache', 'ForeignCacheError', 'build_feature_cache',
    'cache_fingerprint', 'RETRAINING_METHODS', 'RetrainingMethod',
    'build_method', 'method_names', 'retraining_loss', 'RetrainingSchedule',
    'epoch_indices', 'train_candidates'
]
