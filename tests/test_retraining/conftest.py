"""A toy stage-1 model shared by the re-training tests (one training run
per session)."""
from types import SimpleNamespace

import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from retraining_toy import write_toy_configs

import mmlt  # noqa: F401


@pytest.fixture(scope='session')
def toy_stage1(tmp_path_factory):
    """Toy configs and a 2-epoch cross-entropy stage-1 checkpoint."""
    directory = tmp_path_factory.mktemp('retraining')
    stage1_config, stage2_config = write_toy_configs(directory)
    cfg = Config.fromfile(stage1_config)
    cfg.work_dir = str(directory / 'stage1')
    cfg.experiment_name = 'toy_retraining_stage1'
    Runner.from_cfg(cfg).train()
    return SimpleNamespace(
        dir=directory,
        stage1_config=stage1_config,
        stage2_config=stage2_config,
        checkpoint=str(directory / 'stage1' / 'epoch_2.pth'))
