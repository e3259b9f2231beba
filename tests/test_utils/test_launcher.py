import os

import pytest
from mmengine.config import Config
from mmengine.device import get_device

from mmlt.utils import (TRUST_ENV_VAR, apply_checkpoint_trust,
                        setup_cpu_distributed)

cpu_only = pytest.mark.skipif(
    get_device() != 'cpu', reason='the adjustments only apply on CPU')


@cpu_only
def test_cpu_distributed_uses_gloo_and_ddp_without_device_ids():
    cfg = Config(
        dict(
            env_cfg=dict(dist_cfg=dict(backend='nccl')),
            find_unused_parameters=True))
    assert setup_cpu_distributed(cfg, 'pytorch')
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.to_dict() == dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=True,
        device_ids=None)


@cpu_only
def test_cpu_distributed_keeps_user_settings():
    cfg = Config(
        dict(
            env_cfg=dict(dist_cfg=dict(backend='mpi', timeout=60)),
            model_wrapper_cfg=dict(
                type='MMDistributedDataParallel', broadcast_buffers=True)))
    setup_cpu_distributed(cfg, 'slurm')
    assert cfg.env_cfg.dist_cfg.to_dict() == dict(backend='mpi', timeout=60)
    assert cfg.model_wrapper_cfg.broadcast_buffers is True
    assert cfg.model_wrapper_cfg.device_ids is None

    # Wrappers that are not DistributedDataParallel take no device_ids.
    cfg = Config(
        dict(model_wrapper_cfg=dict(type='MMFullyShardedDataParallel')))
    setup_cpu_distributed(cfg, 'pytorch')
    assert 'device_ids' not in cfg.model_wrapper_cfg
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'

    cfg = Config(dict(model_wrapper_cfg=dict(type='NoSuchWrapper')))
    with pytest.raises(KeyError, match='NoSuchWrapper'):
        setup_cpu_distributed(cfg, 'pytorch')


def test_non_distributed_config_is_untouched():
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    assert not setup_cpu_distributed(cfg, 'none')
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in cfg


def test_trust_checkpoints_config_key(monkeypatch):
    # setenv first, so monkeypatch restores the variable afterwards.
    monkeypatch.setenv(TRUST_ENV_VAR, '0')
    apply_checkpoint_trust(Config(dict()))
    apply_checkpoint_trust(Config(dict(trust_checkpoints=False)))
    assert os.environ[TRUST_ENV_VAR] == '0'
    apply_checkpoint_trust(Config(dict(trust_checkpoints=True)))
    assert os.environ[TRUST_ENV_VAR] == '1'
    with pytest.raises(TypeError, match="'yes'"):
        apply_checkpoint_trust(Config(dict(trust_checkpoints='yes')))
