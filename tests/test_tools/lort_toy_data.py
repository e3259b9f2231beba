"""Seconds-long versions of the LORT CIFAR configs: the real stage-1 /
stage-2 configs with a toy in-memory image dataset and a tiny backbone."""
import os.path as osp

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LORT_CONFIGS = osp.join(REPO_ROOT, 'configs', 'lort')
STAGE1_CONFIG = 'lort-stage1_resnet34_cifar100-lt-ir100.py'
STAGE2_CONFIG = 'lort-stage2_resnet34_cifar100-lt-ir100.py'

TRAIN_SIZES = (5, 2, 1)  # 8 images: one iteration of batch 8


@DATASETS.register_module(force=True)
class LORTToyImages(BaseDataset):
    """Seeded 8x8 RGB images of 3 classes (class c brightens channel c).

    Splits: ``train`` (5 / 2 / 1 images), ``val`` (3 per class) and
    ``test`` (4 per class), each with its own seed. ``train_class_counts``
    is the train split's class sizes.
    """
    METAINFO = dict(classes=('a', 'b', 'c'), train_class_counts=TRAIN_SIZES)
    SPLITS = dict(
        train=(TRAIN_SIZES, 0), val=((3, 3, 3), 1), test=((4, 4, 4), 2))

    def __init__(self, split: str = 'train', **kwargs) -> None:
        self.split = split
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self):
        sizes, seed = self.SPLITS[self.split]
        rng = np.random.default_rng(seed)
        data_list = []
        for label, size in enumerate(sizes):
            for _ in range(size):
                img = rng.integers(0, 120, (8, 8, 3), dtype=np.uint8)
                img[..., label] += 120
                data_list.append(dict(img=img, gt_label=label))
        return data_list


def toy_overrides(base: str) -> str:
    """Config text inheriting ``base`` with the toy data and backbone."""
    return f'''
_base_ = [{osp.join(LORT_CONFIGS, base)!r}]
custom_imports = dict(imports=['mmlt', 'lort_toy_data'],
                      allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='CifarResNet', depth=8),
    head=dict(num_classes=3, in_channels=64))
data_preprocessor = dict(num_classes=3)
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='LORTToyImages', split='train',
                 pipeline=[dict(type='RandomCrop', crop_size=8, padding=2),
                           dict(type='RandomFlip', prob=0.5),
                           dict(type='PackInputs')]))
val_dataloader = dict(
    batch_size=5, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='LORTToyImages', split='val',
                 pipeline=[dict(type='PackInputs')]))
test_dataloader = dict(
    batch_size=5, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, type='LORTToyImages', split='test',
                 pipeline=[dict(type='PackInputs')]))
val_evaluator = [
    dict(type='LongTailAccuracy', many_shot_thr=4, low_shot_thr=2),
    dict(type='LogitsStatistics', many_shot_thr=4, low_shot_thr=2),
]
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1)
randomness = dict(seed=0)
log_level = 'WARNING'
'''


def write_toy_configs(directory) -> tuple:
    """Write the toy stage-1 and stage-2 configs; return their paths."""
    paths = []
    for name, base in (('toy_stage1.py', STAGE1_CONFIG), ('toy_stage2.py',
                                                          STAGE2_CONFIG)):
        path = osp.join(str(directory), name)
        with open(path, 'w') as f:
            f.write(toy_overrides(base))
        paths.append(path)
    return tuple(paths)
