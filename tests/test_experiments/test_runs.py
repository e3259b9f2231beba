"""Config helpers of mmlt.experiments.runs (trainings and collection run
end to end in tests/test_demo and tests/test_benchmarks)."""
import os.path as osp

import pytest

from mmlt.experiments import load_config, max_epochs_options

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CE_CONFIG = osp.join(REPO_ROOT, 'configs', 'demo',
                     'ce_smallconvnet_fashion-mnist-lt.py')


def test_max_epochs_moves_schedule_ends():
    cfg = load_config(CE_CONFIG, 'unused', seed=3)
    assert cfg.train_cfg.max_epochs == 30 and cfg.randomness.seed == 3
    assert max_epochs_options(cfg, 4) == {
        'train_cfg.max_epochs': 4,
        'train_cfg.val_interval': 4,
        'default_hooks.checkpoint.interval': 4,
        'param_scheduler.end': 4
    }
    cfg.param_scheduler = [
        dict(type='LinearLR', begin=0, end=2),
        dict(type='CosineAnnealingLR', begin=2, end=30)
    ]
    assert max_epochs_options(cfg, 4)['param_scheduler.1.end'] == 4
    assert 'param_scheduler.0.end' not in max_epochs_options(cfg, 4)
    cfg = load_config(CE_CONFIG, 'unused', max_epochs=4)
    assert cfg.train_cfg.max_epochs == 4
    assert cfg.param_scheduler.end == 4
    with pytest.raises(ValueError, match='max_epochs must be positive'):
        max_epochs_options(cfg, 0)
