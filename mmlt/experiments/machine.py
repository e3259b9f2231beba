"""What a benchmark or experiment ran on, for its JSON report."""
import datetime
import os
import os.path as osp
import platform
import subprocess
from typing import Sequence

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def machine_info(threads: int, devices: Sequence[str]) -> dict:
    """CPU model, thread settings, versions, date, devices and the git
    commit of the repository (``-dirty`` with uncommitted changes; None
    outside a git checkout).

    Args:
        threads (int): The threads the run asked for.
        devices (Sequence[str]): The devices it ran on, e.g. ``['cpu']``.

    Returns:
        dict: The facts, JSON-serialisable.
    """
    cpu_model = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu_model = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    info = dict(
        cpu_model=cpu_model,
        logical_cpus=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        omp_num_threads=os.environ.get('OMP_NUM_THREADS'),
        threads_requested=threads,
        python=platform.python_version(),
        torch=torch.__version__,
        platform=platform.platform(),
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec='seconds'),
        devices=list(devices),
        cuda_device=(torch.cuda.get_device_name(0)
                     if 'cuda' in devices else None))
    try:
        commit = subprocess.run(['git', 'rev-parse', 'HEAD'],
                                cwd=REPO_ROOT,
                                capture_output=True,
                                text=True,
                                check=True).stdout.strip()
        dirty = bool(
            subprocess.run(['git', 'status', '--porcelain'],
                           cwd=REPO_ROOT,
                           capture_output=True,
                           text=True,
                           check=True).stdout.strip())
        info['git_commit'] = commit + ('-dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        info['git_commit'] = None
    return info
