from .class_aware_sampler import ClassAwareSampler
from .class_weighted_sampler import ClassWeightedSampler
from .square_root_sampler import SquareRootSampler

__all__ = ['ClassWeightedSampler', 'ClassAwareSampler', 'SquareRootSampler']
