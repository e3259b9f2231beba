"""Config adjustments shared by ``tools/train.py`` and ``tools/test.py``."""
import os

from mmengine.config import Config, ConfigDict
from mmengine.device import get_device
from mmengine.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel

from .compat import TRUST_ENV_VAR


def setup_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Make a distributed run work on a machine without an accelerator.

    mmengine's defaults assume one GPU per process: ``nccl`` and DDP with
    ``device_ids=[LOCAL_RANK]``. On CPU this sets
    ``env_cfg.dist_cfg.backend = 'gloo'`` (unless a CPU-capable backend,
    ``gloo`` or ``mpi``, is already set) and builds DDP with
    ``device_ids=None``; values given in ``model_wrapper_cfg`` override
    mmengine's default arguments, so setting it there is enough.

    Args:
        cfg (Config): The config, modified in place.
        launcher (str): 'none', 'pytorch', 'slurm' or 'mpi'.

    Returns:
        bool: Whether the config was changed.
    """
    if launcher == 'none' or get_device() != 'cpu':
        return False
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    dist_cfg = env_cfg.setdefault('dist_cfg', ConfigDict())
    if dist_cfg.get('backend') not in ('gloo', 'mpi'):
        dist_cfg.backend = 'gloo'

    wrapper_cfg = cfg.get('model_wrapper_cfg')
    if wrapper_cfg is None:
        cfg.model_wrapper_cfg = ConfigDict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        wrapper_cfg = cfg.model_wrapper_cfg
    wrapper_type = wrapper_cfg.get('type', 'MMDistributedDataParallel')
    wrapper_cls = MODEL_WRAPPERS.get(wrapper_type) if isinstance(
        wrapper_type, str) else wrapper_type
    if wrapper_cls is None:
        raise KeyError(f'model_wrapper_cfg.type={wrapper_type!r} is not a '
                       'registered model wrapper.')
    if issubclass(wrapper_cls, DistributedDataParallel):
        wrapper_cfg.device_ids = None
    return True


def apply_checkpoint_trust(cfg: Config) -> None:
    """Honour ``trust_checkpoints = True`` in a config.

    Sets ``MMLT_TRUST_CHECKPOINTS=1`` for this process (and its children),
    so :mod:`mmlt.utils.compat` loads checkpoints with full pickle. Only
    for checkpoints from a trusted source.

    Args:
        cfg (Config): The config.
    """
    trust = cfg.get('trust_checkpoints', False)
    if not isinstance(trust, bool):
        raise TypeError('trust_checkpoints must be True or False, got '
                        f'{trust!r}')
    if trust:
        os.environ[TRUST_ENV_VAR] = '1'
