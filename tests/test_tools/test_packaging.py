"""The built wheel, installed into a fresh virtual environment: configs and
tools ship in ``mmlt/.mim`` (``setup.py``'s ``add_mim_extension``), so
``mim train mmlt``, ``mim test mmlt ... --checkpoint`` and a config that
inherits ``mmlt::demo/...`` work outside the repository.

The fresh environment has nothing but the wheel; the locked dependencies
(torch, mmengine, MMPretrain, openmim) are reused from the test's own
environment through a ``.pth`` file, so no network is needed.
"""
import importlib.util
import os
import os.path as osp
import shutil
import site
import subprocess
import sys
import sysconfig

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PACKAGE_FILES = ('setup.py', 'README.md', 'requirements', 'mmlt', 'tools',
                 'configs', 'model-index.yml')
TIMEOUT = 300  # generous: the machine running the suite may be loaded


def run(args, cwd, env=None):
    result = subprocess.run(
        args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout[-4000:]
    return result.stdout


@pytest.fixture(scope='module')
def fresh_venv(tmp_path_factory):
    """A virtual environment with only the wheel of a copy of the
    repository installed; its python reuses this environment's packages."""
    tmp = tmp_path_factory.mktemp('packaging')
    source = tmp / 'source'
    source.mkdir()
    for name in PACKAGE_FILES:
        path = osp.join(REPO_ROOT, name)
        if osp.isdir(path):
            shutil.copytree(
                path,
                source / name,
                ignore=shutil.ignore_patterns('__pycache__', '.mim'))
        else:
            shutil.copy(path, source / name)
    run([
        sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
        '--no-build-isolation', '-w',
        str(tmp / 'wheel'), '.'
    ], cwd=source)
    wheel = next((tmp / 'wheel').glob('mmlt-*.whl'))

    venv = tmp / 'venv'
    run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], cwd=tmp)
    python = str(venv / 'bin' / 'python')
    venv_site = run([
        python, '-c', 'import sysconfig; print(sysconfig.get_paths()'
        '["purelib"])'
    ], cwd=tmp).strip()
    # After the fresh site-packages on sys.path, so the wheel's mmlt wins
    # over the editable install of the repository (whose finder lives in a
    # .pth file that an added path does not run).
    with open(osp.join(venv_site, 'locked_packages.pth'), 'w') as f:
        f.write('\n'.join(
            [sysconfig.get_paths()['purelib'], *site.getsitepackages()]))
    run([
        python, '-m', 'pip', 'install', '-q', '--no-deps', '--no-index',
        str(wheel)
    ], cwd=tmp)
    return python, tmp


def fashion_mnist_files():
    """The demo tests' helpers that write Fashion-MNIST-like IDX files."""
    spec = importlib.util.spec_from_file_location(
        'fashion_mnist_files',
        osp.join(REPO_ROOT, 'tests', 'test_demo', 'fashion_mnist_files.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    files = fashion_mnist_files()
    root = tmp_path_factory.mktemp('fashion-mnist')
    arrays = files.synthetic_fashion_mnist(20, 2)
    names = {
        'train-images-idx3-ubyte': arrays['train_images'],
        'train-labels-idx1-ubyte': arrays['train_labels'],
        't10k-images-idx3-ubyte': arrays['test_images'],
        't10k-labels-idx1-ubyte': arrays['test_labels'],
    }
    for name, array in names.items():
        (root / name).write_bytes(files.idx_bytes(array))
    return str(root)


def test_wheel_ships_mim_files_and_mmlt_scope(fresh_venv, data_root):
    python, tmp = fresh_venv
    work = tmp / 'work'
    work.mkdir()
    location = run([python, '-c', 'import mmlt; print(mmlt.__file__)'],
                   cwd=work).splitlines()[-1]
    assert location.startswith(str(tmp / 'venv'))  # the wheel, not the repo

    # A user's config outside the repository, inheriting an mmlt config.
    config = work / 'my_ce.py'
    config.write_text(
        "_base_ = ['mmlt::demo/ce_smallconvnet_fashion-mnist-lt.py']\n"
        'train_cfg = dict(max_epochs=1, val_interval=1)\n'
        'param_scheduler = dict(end=1)\n'
        'default_hooks = dict(checkpoint=dict(interval=1))\n')
    options = [
        f'{split}_dataloader.dataset.{key}={value}'
        for split in ('train', 'val', 'test')
        for key, value in (('n_max', 10), ('imbalance_factor', 2),
                           ('dataset.data_root', data_root))
    ] + [
        'train_dataloader.dataset.dataset.indices=150',
        'val_dataloader.dataset.dataset.indices=-50',
    ]
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env.pop('PYTHONPATH', None)
    env.pop('MMLT_TRUST_CHECKPOINTS', None)
    mim = [python, '-m', 'mim']
    output = run(
        mim + [
            'train', 'mmlt',
            str(config), '--gpus', '0', '--work-dir',
            str(work / 'run'), '--cfg-options', *options
        ],
        cwd=work,
        env=env)
    assert 'Epoch(val) [1]' in output
    checkpoint = work / 'run' / 'epoch_1.pth'
    assert checkpoint.is_file()
    metrics = work / 'metrics.json'
    run(mim + [
        'test', 'mmlt',
        str(config), '--checkpoint',
        str(checkpoint), '--gpus', '0', '--work-dir',
        str(work / 'test'), '--out',
        str(metrics), '--out-item', 'metrics', '--cfg-options', *options
    ],
        cwd=work,
        env=env)
    assert '"accuracy/top1"' in metrics.read_text()
