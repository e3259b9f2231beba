"""Test-only modules for the GALA tool tests, imported through
``custom_imports`` (the tests put this folder on PYTHONPATH)."""
import json
import os.path as osp

import numpy as np
import torch
import torch.nn as nn
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import BaseModule
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS, HOOKS, MODELS

from mmlt.models.losses import GALALoss


@DATASETS.register_module()
class GALASyntheticDataset(BaseDataset):
    """Deterministic 3x4x4 "images": a class-dependent mean plus noise.

    Args:
        class_sizes (Sequence[int]): Samples per class.
        train_class_counts (Sequence[int]): Put into the metainfo.
        seed (int): Seed of the noise.
        pipeline (list): Data pipeline.
    """

    def __init__(self, class_sizes, train_class_counts, seed=0, pipeline=()):
        self.class_sizes = tuple(class_sizes)
        self.seed = seed
        num_classes = len(self.class_sizes)
        super().__init__(
            ann_file='',
            metainfo=dict(
                classes=[f'c{i}' for i in range(num_classes)],
                train_class_counts=tuple(train_class_counts)),
            pipeline=pipeline)

    def load_data_list(self):
        rng = np.random.default_rng(self.seed)
        means = np.random.default_rng(1234).normal(
            size=(len(self.class_sizes), 4, 4, 3))
        data_list = []
        for label, size in enumerate(self.class_sizes):
            for _ in range(size):
                img = means[label] + 1.5 * rng.normal(size=(4, 4, 3))
                data_list.append(
                    dict(img=img.astype(np.float32), gt_label=label))
        order = rng.permutation(len(data_list))  # mix the classes
        return [data_list[i] for i in order]


@MODELS.register_module()
class GALATinyMLP(BaseModule):
    """Flatten + Linear + ReLU; no batch normalisation, so a distributed run
    computes the same features as a single process."""

    def __init__(self, in_features=48, hidden=16, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.fc = nn.Linear(in_features, hidden)

    def forward(self, x):
        return (torch.relu(self.fc(x.flatten(1))), )


@HOOKS.register_module()
class DumpGALAStatsHook(Hook):
    """Save every GALA loss's statistics to
    ``work_dir/gala_stats_rank{r}.pth`` at the end of training."""

    def after_train(self, runner):
        stats = [
            dict(
                theta=m.theta.cpu(),
                negative_received=m.negative_received.cpu())
            for m in runner.model.modules() if isinstance(m, GALALoss)
        ]
        torch.save(
            stats, osp.join(runner.work_dir,
                            f'gala_stats_rank{get_rank()}.pth'))


@HOOKS.register_module()
class DumpTestMetricsHook(Hook):
    """Save the test metrics each rank received to
    ``work_dir/test_metrics_rank{r}.json``."""

    def after_test_epoch(self, runner, metrics=None):
        with open(
                osp.join(runner.work_dir,
                         f'test_metrics_rank{get_rank()}.json'), 'w') as f:
            json.dump(metrics, f)
