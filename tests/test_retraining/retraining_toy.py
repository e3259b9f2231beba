"""Seconds-long versions of the demo configs for the re-training tests:
the real Fashion-MNIST-LT CE / LORT stage-2 configs with a toy in-memory
dataset of 28x28 grayscale images and a narrow SmallConvNet."""
import os.path as osp

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO_CONFIGS = osp.join(REPO_ROOT, 'configs', 'demo')
TOY_DIR = osp.dirname(osp.abspath(__file__))
TRAIN_SIZES = (12, 6, 3)


@DATASETS.register_module(force=True)
class RetrainingToyImages(BaseDataset):
    """Seeded 28x28 grayscale images of 3 overlapping classes (class c
    is noise shifted by 40 c grey levels); ``train`` 12 / 6 / 3 images,
    ``val`` 5 and ``test`` 6 per class, each split with its own seed.
    ``sizes`` replaces the class sizes (e.g. a class absent from
    training)."""
    METAINFO = dict(
        classes=('a', 'b', 'c'), train_class_counts=TRAIN_SIZES)
    SPLITS = dict(train=(TRAIN_SIZES, 0), val=((5, 5, 5), 1),
                  test=((6, 6, 6), 2))

    def __init__(self, split: str = 'train', sizes=None, **kwargs) -> None:
        self.split = split
        self.sizes = sizes
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self):
        sizes, seed = self.SPLITS[self.split]
        sizes = sizes if self.sizes is None else self.sizes
        rng = np.random.default_rng(seed)
        data_list = []
        for label, size in enumerate(sizes):
            for _ in range(size):
                img = rng.integers(0, 160, (28, 28), dtype=np.uint8)
                img += np.uint8(40 * label)  # GAP features see brightness
                data_list.append(dict(img=img, gt_label=label))
        return data_list


def dataset(split: str) -> dict:
    return dict(type='RetrainingToyImages', split=split,
                pipeline=[dict(type='PackInputs')])


def overrides(base: str, batch_size: int = 4) -> str:
    """Config text inheriting ``configs/demo/{base}`` with the toy data."""
    return f'''
_base_ = [{osp.join(DEMO_CONFIGS, base)!r}]
custom_imports = dict(imports=['mmlt', 'retraining_toy'],
                      allow_failed_imports=False)
model = dict(backbone=dict(channels=(4, 8)),
             head=dict(num_classes=3, in_channels=8))
data_preprocessor = dict(num_classes=3)
train_dataloader = dict(batch_size={batch_size}, num_workers=0,
    persistent_workers=False,
    dataset=dict(_delete_=True, **{dataset('train')!r}))
val_dataloader = dict(batch_size=7, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, **{dataset('val')!r}))
test_dataloader = dict(batch_size=7, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, **{dataset('test')!r}))
val_evaluator = dict(_delete_=True, type='LongTailAccuracy',
                     many_shot_thr=10, low_shot_thr=5)
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=2, val_interval=2)
param_scheduler = dict(end=2)
default_hooks = dict(checkpoint=dict(interval=2),
                     logger=dict(interval=1))
'''


def write_toy_configs(directory) -> tuple:
    """Write the toy stage-1 (CE) and LORT stage-2 configs; return their
    paths."""
    paths = []
    for name, base in (('stage1', 'ce_smallconvnet_fashion-mnist-lt.py'),
                       ('stage2',
                        'lort-stage2_smallconvnet_fashion-mnist-lt.py')):
        path = osp.join(str(directory), f'toy_{name}.py')
        with open(path, 'w') as f:
            f.write(overrides(base))
        paths.append(path)
    return tuple(paths)
