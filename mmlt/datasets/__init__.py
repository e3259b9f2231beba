from .cifar_lt import CIFAR10LT, CIFAR100LT
from .imagenet_lt import ImageNetLT
from .inaturalist2018 import INaturalist2018
from .long_tail_dataset import LongTailDataset
from .long_tail_profile import long_tail_class_counts, long_tail_subset_indices
from .long_tail_split_file_dataset import LongTailSplitFileDataset
from .places_lt import PlacesLT
from .samplers import *  # noqa: F401,F403
from .synthetic_images import SyntheticImages
from .train_class_counts import train_class_counts

__all__ = [
    'long_tail_class_counts', 'long_tail_subset_indices', 'LongTailDataset',
    'CIFAR10LT', 'CIFAR100LT', 'LongTailSplitFileDataset', 'ImageNetLT',
    'PlacesLT', 'INaturalist2018', 'ClassWeightedSampler',
    'ClassAwareSampler', 'SquareRootSampler', 'SyntheticImages',
    'train_class_counts'
]
