"""Kill-and-resume of the demo configs through tools/train.py: a run killed
with SIGKILL after a checkpoint and resumed with ``--resume`` ends in the
same state (weights, GALA statistics, optimizer, learning-rate schedule) as
an uninterrupted run."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from fashion_mnist_files import idx_bytes, synthetic_fashion_mnist
from mmengine.config import Config
from mmengine.runner.checkpoint import _load_checkpoint

import mmlt  # noqa: F401  (checkpoint loading policy)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TIMEOUT = 300  # generous: the machine running the suite may be loaded
EPOCHS = 3
KILL_ITER = 10  # in epoch 2 (7 iterations per epoch): after epoch_1.pth

# A hook that kills its own process with SIGKILL, as an out-of-memory killer
# or a pre-empted job would: no cleanup, no checkpoint of its own.
KILL_HOOK = '''import os
import signal

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class KillAtIterHook(Hook):

    def __init__(self, kill_iter):
        self.kill_iter = kill_iter

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.kill_iter:
            os.kill(os.getpid(), signal.SIGKILL)
'''


def tiny_options(data_root):
    """A 3-epoch schedule on 20 images per class (IF 4), a checkpoint after
    every epoch, deterministic kernels."""
    options = [
        f'{split}_dataloader.dataset.{key}={value}'
        for split in ('train', 'val', 'test')
        for key, value in (('n_max', 20), ('imbalance_factor', 4),
                           ('dataset.data_root', data_root))
    ]
    return options + [
        'train_dataloader.dataset.dataset.indices=300',
        'val_dataloader.dataset.dataset.indices=-100',
        'train_dataloader.batch_size=16',
        f'train_cfg.max_epochs={EPOCHS}',
        f'train_cfg.val_interval={EPOCHS}',
        f'param_scheduler.end={EPOCHS}',
        'default_hooks.checkpoint.interval=1',
        'default_hooks.checkpoint.max_keep_ckpts=-1',
        'randomness.deterministic=True',
    ]


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    """Uncompressed IDX files as MMPretrain's FashionMNIST reads them."""
    root = tmp_path_factory.mktemp('fashion-mnist')
    arrays = synthetic_fashion_mnist(40, 2)
    names = {
        'train-images-idx3-ubyte': arrays['train_images'],
        'train-labels-idx1-ubyte': arrays['train_labels'],
        't10k-images-idx3-ubyte': arrays['test_images'],
        't10k-labels-idx1-ubyte': arrays['test_labels'],
    }
    for name, array in names.items():
        (root / name).write_bytes(idx_bytes(array))
    return str(root)


def train(config, work_dir, options, *extra, killed=False):
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join(
            [str(osp.dirname(config)),
             os.environ.get('PYTHONPATH', '')]))
    env.pop('MMLT_TRUST_CHECKPOINTS', None)
    result = subprocess.run(
        [
            sys.executable, 'tools/train.py',
            str(config), '--work-dir',
            str(work_dir), *extra, '--cfg-options', *options
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT)
    expected = -9 if killed else 0
    assert result.returncode == expected, result.stdout[-4000:]
    return result.stdout


def killing_config(tmp_path, config):
    """``config`` plus a hook that SIGKILLs the run at ``KILL_ITER``."""
    (tmp_path / 'kill_at_iter_hook.py').write_text(KILL_HOOK)
    hooks = Config.fromfile(config).get('custom_hooks', [])
    hooks = [dict(hook) for hook in hooks]
    hooks.append(dict(type='KillAtIterHook', kill_iter=KILL_ITER))
    path = tmp_path / 'killed.py'
    path.write_text(
        f'_base_ = [{config!r}]\n'
        "custom_imports = dict(imports=['mmlt', 'kill_at_iter_hook'], "
        'allow_failed_imports=False)\n'
        f'custom_hooks = {hooks!r}\n')
    return path


def assert_same(actual, expected, path='checkpoint'):
    """Bit-exact equality of nested dicts / lists of tensors and scalars."""
    if isinstance(expected, dict):
        assert actual.keys() == expected.keys(), path
        for key in expected:
            assert_same(actual[key], expected[key], f'{path}[{key!r}]')
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), path
        for index, (item, expected_item) in enumerate(zip(actual, expected)):
            assert_same(item, expected_item, f'{path}[{index}]')
    elif isinstance(expected, torch.Tensor):
        assert torch.equal(actual, expected), path
    else:
        assert actual == expected, path


def test_killed_and_resumed_demo_run_ends_like_uninterrupted(
        tmp_path, data_root):
    # The GALA demo config: the cross-entropy one (its _base_, whose
    # checkpoint hook and OneCycleLR every demo config inherits) plus the
    # GALA statistics.
    config = osp.join(REPO_ROOT, 'configs', 'demo',
                      'gala_smallconvnet_fashion-mnist-lt.py')
    options = tiny_options(data_root)
    work_dir = tmp_path / 'killed'
    train(
        killing_config(tmp_path, config), work_dir, options, killed=True)
    assert (work_dir / 'epoch_1.pth').is_file()
    assert not (work_dir / 'epoch_2.pth').exists()
    output = train(config, work_dir, options, '--resume')
    assert 'resumed epoch: 1' in output
    train(config, tmp_path / 'uninterrupted', options)

    resumed = _load_checkpoint(
        str(work_dir / f'epoch_{EPOCHS}.pth'), map_location='cpu')
    expected = _load_checkpoint(
        str(tmp_path / 'uninterrupted' / f'epoch_{EPOCHS}.pth'),
        map_location='cpu')
    for key in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_same(resumed[key], expected[key], key)
    for key in ('epoch', 'iter', 'seed'):
        assert resumed['meta'][key] == expected['meta'][key]
