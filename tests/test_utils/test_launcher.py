import argparse
import os
import os.path as osp

import pytest
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.device import get_device
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from mmlt.utils import (TRUST_ENV_VAR, add_launcher_args,
                        apply_checkpoint_trust, build_runner,
                        default_work_dir, destroy_process_group_on_exit,
                        load_checkpoint_config, parse_launcher_args,
                        set_checkpoint, set_launcher_and_work_dir,
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


def test_work_dir_priority_and_launcher():
    cfg = Config(dict())
    set_launcher_and_work_dir(cfg, 'configs/x/my_config.py', 'pytorch', None)
    assert cfg.launcher == 'pytorch'
    assert cfg.work_dir == osp.join('./work_dirs', 'my_config')
    cfg = Config(dict(work_dir='from_config'))
    set_launcher_and_work_dir(cfg, 'my_config.py', 'none', None)
    assert cfg.work_dir == 'from_config'
    set_launcher_and_work_dir(cfg, 'my_config.py', 'none', 'from_cli')
    assert cfg.work_dir == 'from_cli'
    assert default_work_dir('a/b/sweep.py', 'eps_') == osp.join(
        './work_dirs', 'eps_sweep')


def test_checkpoint_argument_replaces_config_load_from():
    cfg = Config(dict(load_from='config.pth'))
    set_checkpoint(cfg, 'ckpt.pth', None)
    assert cfg.load_from == 'ckpt.pth'
    # The same file in --cfg-options is no conflict.
    set_checkpoint(cfg, 'ckpt.pth', {'load_from': 'ckpt.pth', 'a': 1})
    assert cfg.load_from == 'ckpt.pth'


@pytest.mark.parametrize('option', ['other.pth', None])
def test_conflicting_load_from_option_is_refused(option):
    cfg = Config(dict(load_from='config.pth'))
    with pytest.raises(ValueError) as error:
        set_checkpoint(cfg, 'ckpt.pth', {'load_from': option})
    assert "'ckpt.pth'" in str(error.value)
    assert f'load_from={option!r}' in str(error.value)
    assert cfg.load_from == 'config.pth'


def test_load_checkpoint_config(tmp_path):
    config = tmp_path / 'tool_config.py'
    config.write_text("load_from = 'config.pth'\nmodel = dict(x=1, y=2)\n")
    args = argparse.Namespace(
        config=str(config),
        checkpoint='ckpt.pth',
        work_dir=None,
        launcher='none',
        cfg_options={'model.x': 3})
    cfg = load_checkpoint_config(args)
    assert cfg.load_from == 'ckpt.pth'
    assert cfg.model.to_dict() == dict(x=3, y=2)
    assert cfg.work_dir == osp.join('./work_dirs', 'tool_config')
    assert cfg.launcher == 'none'

    args.cfg_options = {'load_from': 'other.pth'}
    with pytest.raises(ValueError, match='drop load_from'):
        load_checkpoint_config(args)


def test_launcher_args_export_local_rank(monkeypatch):
    # setenv first, so monkeypatch restores the variable afterwards.
    monkeypatch.setenv('LOCAL_RANK', '1')
    parser = argparse.ArgumentParser()
    add_launcher_args(parser)
    args = parse_launcher_args(
        parser, ['--local-rank', '3', '--cfg-options', 'a.b=1', 'c=x'])
    assert os.environ['LOCAL_RANK'] == '1'  # set by the launcher: kept
    assert args.cfg_options == {'a.b': 1, 'c': 'x'}
    assert args.launcher == 'none'
    monkeypatch.delenv('LOCAL_RANK')
    args = parse_launcher_args(parser, ['--local_rank', '3'])
    assert os.environ['LOCAL_RANK'] == '3'
    assert args.cfg_options is None
    with pytest.raises(SystemExit):
        parse_launcher_args(parser, ['--launcher', 'ssh'])


class RecordingRunner:
    """Stands in for a custom ``runner_type``."""

    @classmethod
    def from_cfg(cls, cfg):
        runner = cls()
        runner.cfg = cfg
        return runner


def test_build_runner_honours_runner_type(monkeypatch):
    RUNNERS.register_module(
        name='MMLTRecordingRunner', module=RecordingRunner, force=True)
    cfg = Config(dict(runner_type='MMLTRecordingRunner', work_dir='w'))
    runner = build_runner(cfg)
    assert isinstance(runner, RecordingRunner)
    assert runner.cfg.work_dir == 'w'

    built = []
    monkeypatch.setattr(Runner, 'from_cfg',
                        classmethod(lambda cls, cfg: built.append(cfg)))
    cfg = Config(dict(work_dir='w'))
    build_runner(cfg)
    assert built == [cfg]


def init_single_process_group(tmp_path):
    torch_dist.init_process_group(
        'gloo',
        init_method=f'file://{tmp_path / "store"}',
        rank=0,
        world_size=1)


def test_process_group_destroyed_on_exit(tmp_path):
    with pytest.raises(RuntimeError, match='inside'):
        with destroy_process_group_on_exit():
            init_single_process_group(tmp_path)
            assert torch_dist.is_initialized()
            raise RuntimeError('inside')
    assert not torch_dist.is_initialized()
    with destroy_process_group_on_exit():  # nothing to destroy
        pass


def test_process_group_destroyed_after_normal_exit(tmp_path):
    """A normal exit passes the barrier (one rank here) and destroys the
    group."""
    with destroy_process_group_on_exit():
        init_single_process_group(tmp_path)
    assert not torch_dist.is_initialized()
