"""``make gpu-wheels`` and ``benchmarks/gpu_check.py --wheels``: the wheels
install with ``pip --no-index --no-deps`` on a Python that has torch but
no OpenMMLab. That Python is a fresh venv with ``--system-site-packages``
that sees every package of this venv except the ones the wheels carry."""
import json
import os
import os.path as osp
import subprocess
import sys
import sysconfig
import zipfile

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TIMEOUT = 600


def call(args, **kwargs):
    proc = subprocess.run(
        args,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
        **kwargs)
    return proc


def wheel_files(wheel_dir):
    return sorted(
        name for name in os.listdir(wheel_dir) if name.endswith('.whl'))


def carried_names(wheel_dir):
    """Top-level entries (packages, modules, .dist-info) of the wheels."""
    names = set()
    for wheel in wheel_files(wheel_dir):
        with zipfile.ZipFile(osp.join(wheel_dir, wheel)) as zf:
            names.update(name.split('/')[0] for name in zf.namelist())
    return names


@pytest.fixture(scope='module')
def wheels_and_box(tmp_path_factory):
    root = tmp_path_factory.mktemp('gpu_wheels')
    wheel_dir = root / 'whl'
    proc = call(['make', 'gpu-wheels', f'GPU_WHEELS_DIR={wheel_dir}'])
    assert proc.returncode == 0, proc.stdout[-4000:]

    # a "GPU box": torch & co., none of the carried packages, no mmlt
    carried = carried_names(wheel_dir)
    visible = root / 'box_packages'
    visible.mkdir()
    purelib = sysconfig.get_paths()['purelib']
    for name in os.listdir(purelib):
        if name in carried or name.startswith(('mmlt', '__editable__')) \
                or name.endswith('.pth'):
            continue
        os.symlink(osp.join(purelib, name), visible / name)
    box = root / 'box'
    proc = call([
        getattr(sys, '_base_executable', sys.executable), '-m', 'venv',
        '--system-site-packages', '--without-pip',
        str(box)
    ])
    assert proc.returncode == 0, proc.stdout
    python = str(box / 'bin' / 'python')
    box_purelib = call([
        python, '-c', 'import sysconfig; print(sysconfig.get_paths()'
        '["purelib"])'
    ]).stdout.strip()
    with open(osp.join(box_purelib, 'torch_box.pth'), 'w') as f:
        f.write(f'{visible}\n')
    return wheel_dir, python


def test_wheels_are_small_pure_python_and_pinned(wheels_and_box):
    wheel_dir, _ = wheels_and_box
    wheels = wheel_files(wheel_dir)
    with open(osp.join(REPO_ROOT, 'requirements', 'gpu-wheels.txt')) as f:
        pins = [
            line.split('==') for line in f
            if line.strip() and not line.startswith('#')
        ]
    assert len(wheels) == len(pins)
    for wheel in wheels:
        assert wheel.endswith('-none-any.whl'), wheel
    for name, version in pins:
        stem = name.lower().replace('-', '_')
        assert any(w.lower().startswith(f'{stem}-{version.strip()}-')
                   for w in wheels), (name, version)
    size = sum(osp.getsize(osp.join(wheel_dir, w)) for w in wheels)
    assert size < 60 * 2**20


def test_gpu_check_installs_the_wheels_on_a_torch_only_python(
        wheels_and_box, tmp_path):
    wheel_dir, python = wheels_and_box
    # the box has torch and numpy but no OpenMMLab
    proc = call([python, '-c', 'import torch, numpy, cv2; import mmengine'])
    assert proc.returncode != 0
    assert "No module named 'mmengine'" in proc.stdout

    out = tmp_path / 'report.json'
    proc = call([
        python, 'benchmarks/gpu_check.py', '--wheels',
        str(wheel_dir), '--dry-run', '--skip', 'cuda_tests', 'amp_training',
        'fp16_overflow', 'overhead', 'throughput', '--out',
        str(out)
    ],
                env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stdout[-4000:]
    with open(out) as f:
        report = json.load(f)
    assert sorted(report['wheels_installed']) == wheel_files(wheel_dir)
    site = str(wheel_dir / 'site')
    for name in ('mmengine', 'mmcv', 'mmpretrain'):
        assert report['machine'][f'{name}_path'].startswith(site), name
    assert report['machine']['mmpretrain'] == '1.2.0'
