from typing import List, Sequence

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS


@DATASETS.register_module()
class SyntheticImages(BaseDataset):
    """Seeded random uint8 images in memory, for checks and throughput
    measurements on machines without data sets (e.g. a GPU box).

    Class ``c`` has ``class_counts[c]`` images; each image is uniform noise
    in [0, 160) plus 95 on channel ``c mod channels``, so the classes are
    learnable. The images of class ``c`` are drawn from one generator seeded
    with ``(seed, c)``, and the samples are then shuffled with ``seed``, so
    the data set is fixed by its arguments. ``metainfo['train_class_counts']``
    is ``train_class_counts`` (default: ``class_counts``), as the long-tail
    hooks and metrics read it.

    Args:
        class_counts (Sequence[int]): Images per class, each >= 1.
        image_size (int): Height and width. Defaults to 32.
        channels (int): Channels. Defaults to 3.
        train_class_counts (Sequence[int], optional): Reported training
            counts (for a balanced evaluation split of a long-tailed
            training set). Defaults to None, ``class_counts``.
        seed (int): Seed of the images and their order. Defaults to 0.
        **kwargs: Other arguments of :class:`BaseDataset` (``pipeline``,
            ``test_mode``, ...).
    """

    def __init__(self,
                 class_counts: Sequence[int],
                 image_size: int = 32,
                 channels: int = 3,
                 train_class_counts: Sequence[int] = None,
                 seed: int = 0,
                 **kwargs) -> None:
        self.class_counts = tuple(class_counts)
        if not self.class_counts or any(
                isinstance(n, bool) or not isinstance(n, (int,
                                                          np.integer)) or n < 1
                for n in self.class_counts):
            raise ValueError('SyntheticImages: class_counts must be a '
                             'non-empty sequence of integers >= 1, got '
                             f'{class_counts!r}.')
        if train_class_counts is None:
            train_class_counts = self.class_counts
        if len(train_class_counts) != len(self.class_counts):
            raise ValueError(
                f'SyntheticImages: train_class_counts has '
                f'{len(train_class_counts)} classes, class_counts '
                f'{len(self.class_counts)}.')
        for name, value in (('image_size', image_size), ('channels',
                                                         channels)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'SyntheticImages: {name} must be an '
                                 f'integer >= 1, got {value!r}.')
        self.image_size = image_size
        self.channels = channels
        self.seed = seed
        metainfo = dict(
            classes=tuple(f'class{c}' for c in range(len(self.class_counts))),
            train_class_counts=tuple(int(n) for n in train_class_counts))
        super().__init__(ann_file='', metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        shape = (self.image_size, self.image_size, self.channels)
        data_list = []
        for label, count in enumerate(self.class_counts):
            rng = np.random.default_rng((self.seed, label))
            images = rng.integers(0, 160, (count, ) + shape, dtype=np.uint8)
            images[..., label % self.channels] += 95
            data_list += [dict(img=img, gt_label=label) for img in images]
        order = np.random.default_rng(self.seed).permutation(len(data_list))
        return [data_list[i] for i in order]
