"""Command-line and config handling shared by ``tools/train.py``,
``tools/test.py`` and the scripts under ``tools/analysis``."""
import argparse
import logging
import os
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence

import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.device import get_device
from mmengine.logging import print_log
from mmengine.registry import MODEL_WRAPPERS, RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import find_latest_checkpoint
from torch.nn.parallel import DistributedDataParallel

from .compat import TRUST_ENV_VAR

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def add_launcher_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--cfg-options``, ``--launcher`` and ``--local_rank`` (MMPretrain's
    arguments) to a tool's parser.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, xxx=yyy format; lists as key="[a,b]" '
        'or key=a,b, nested as key="[(a,b),(c,d)]" (quotes needed, no '
        'white space)')
    parser.add_argument(
        '--launcher', choices=LAUNCHERS, default='none', help='job launcher')
    # torch.distributed.launch passes --local-rank, older versions
    # --local_rank; torchrun sets the LOCAL_RANK environment variable.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_launcher_args(
        parser: argparse.ArgumentParser,
        argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line of a tool set up with :func:`add_launcher_args`
    and export ``LOCAL_RANK`` unless the launcher already did.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
        argv (Sequence[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def default_work_dir(config_path: str, prefix: str = '') -> str:
    """``./work_dirs/{prefix}{config name}``, MMPretrain's default.

    Args:
        config_path (str): Path of the config file.
        prefix (str): Prefix of the directory name. Defaults to ''.

    Returns:
        str: The directory.
    """
    name = osp.splitext(osp.basename(config_path))[0]
    return osp.join('./work_dirs', prefix + name)


def set_launcher_and_work_dir(cfg: Config, config_path: str, launcher: str,
                              work_dir: Optional[str]) -> None:
    """Set ``cfg.launcher`` and ``cfg.work_dir`` from the command line.

    The work directory is ``work_dir`` if given, else the config's, else
    :func:`default_work_dir`.

    Args:
        cfg (Config): The config, modified in place.
        config_path (str): Path of the config file.
        launcher (str): The ``--launcher`` argument.
        work_dir (str, optional): The ``--work-dir`` argument.
    """
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = default_work_dir(config_path)


def set_checkpoint(cfg: Config, checkpoint: str,
                   cfg_options: Optional[dict]) -> None:
    """Load the checkpoint given as a positional argument.

    It replaces any ``load_from`` of the config file. A ``load_from`` in
    ``--cfg-options`` that names another file is refused rather than
    silently overriding one of the two.

    Args:
        cfg (Config): The config, modified in place.
        checkpoint (str): The positional checkpoint argument.
        cfg_options (dict, optional): The ``--cfg-options`` argument.
    """
    if cfg_options is not None and 'load_from' in cfg_options and \
            cfg_options['load_from'] != checkpoint:
        raise ValueError(
            f'The checkpoint argument {checkpoint!r} and --cfg-options '
            f'load_from={cfg_options["load_from"]!r} name different '
            'checkpoints; the checkpoint argument is the one loaded, so '
            'drop load_from from --cfg-options.')
    cfg.load_from = checkpoint


def set_resume(cfg: Config, resume: Optional[str]) -> None:
    """Apply ``tools/train.py --resume [CHECKPOINT]`` to the config.

    ``--resume CHECKPOINT`` resumes from that file. ``--resume`` alone
    resumes from the latest checkpoint of ``cfg.work_dir``; a ``load_from``
    of the config (e.g. a stage-1 checkpoint from ``--cfg-options``) is kept
    for the case that there is none: then a warning says that no checkpoint
    was found and training starts from iteration 0 (from ``load_from`` if
    set). mmengine itself would resume from ``load_from`` whenever it is set,
    and start from scratch after one log line when ``work_dir`` is empty.

    Args:
        cfg (Config): The config after ``--cfg-options``, modified in place.
        resume (str, optional): The ``--resume`` argument: None (not given),
            'auto' (given without a path) or a checkpoint path.
    """
    if resume is None:
        return
    if resume != 'auto':
        cfg.resume = True
        cfg.load_from = resume
        return
    latest = find_latest_checkpoint(cfg.work_dir)
    if latest is not None:
        cfg.resume = True
        cfg.load_from = latest
        return
    cfg.resume = False
    start = ('from the weights of load_from='
             f'{cfg.load_from!r}' if cfg.get('load_from') else 'from scratch')
    print_log(
        f'--resume: no checkpoint found in work_dir={cfg.work_dir!r} (it '
        'has no `last_checkpoint` file); training starts from iteration 0, '
        f'{start}.',
        logger='current',
        level=logging.WARNING)


def load_checkpoints_strictly(runner: Runner, config_path: str) -> None:
    """Make ``runner`` load checkpoints strictly.

    mmengine loads ``load_from`` with ``strict=False``: a checkpoint of
    another model (other number of classes, other backbone) is scored with
    randomly initialised layers after a few "size mismatch" log lines. After
    this call any missing, unexpected or mismatched key is a
    ``ValueError`` that names the checkpoint, the config and the keys (the
    BN ``num_batches_tracked`` counters are ignored, as by mmengine).

    Args:
        runner (Runner): The runner, modified in place.
        config_path (str): The config file, for the message.
    """
    load_checkpoint = runner.load_checkpoint

    def strict_load_checkpoint(filename, *args, **kwargs):
        kwargs['strict'] = True
        try:
            return load_checkpoint(filename, *args, **kwargs)
        except RuntimeError as error:
            if 'do not match exactly' not in str(error):
                raise
            raise ValueError(
                f'Checkpoint {filename} does not fit the model of '
                f'{config_path}; testing needs every weight of the model and '
                f'no other. {error}') from error

    runner.load_checkpoint = strict_load_checkpoint


def merge_cfg_options(cfg: Config, cfg_options: Optional[dict]) -> None:
    """Merge ``--cfg-options`` into the config, if given.

    Args:
        cfg (Config): The config, modified in place.
        cfg_options (dict, optional): The ``--cfg-options`` argument.
    """
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)


def load_checkpoint_config(args: argparse.Namespace) -> Config:
    """The config of a tool that runs a checkpoint (``tools/analysis``).

    Reads ``args.config`` and applies, in this order,
    :func:`set_launcher_and_work_dir`, :func:`set_checkpoint` and
    :func:`merge_cfg_options`.

    Args:
        args (argparse.Namespace): With ``config``, ``checkpoint``,
            ``work_dir``, ``launcher`` and ``cfg_options``.

    Returns:
        Config: The config.
    """
    cfg = Config.fromfile(args.config)
    set_launcher_and_work_dir(cfg, args.config, args.launcher, args.work_dir)
    set_checkpoint(cfg, args.checkpoint, args.cfg_options)
    merge_cfg_options(cfg, args.cfg_options)
    return cfg


def prepare_launch(cfg: Config, launcher: str) -> None:
    """The last adjustments before building the runner:
    :func:`setup_cpu_distributed` and :func:`apply_checkpoint_trust`.

    Args:
        cfg (Config): The config, modified in place.
        launcher (str): The ``--launcher`` argument.
    """
    setup_cpu_distributed(cfg, launcher)
    apply_checkpoint_trust(cfg)


def build_runner(cfg: Config) -> Runner:
    """The runner of ``cfg``: ``cfg.runner_type`` if set, else mmengine's
    :class:`Runner`.

    Args:
        cfg (Config): The config.

    Returns:
        Runner: The runner.
    """
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


@contextmanager
def destroy_process_group_on_exit() -> Iterator[None]:
    """Destroy the default process group, if one was initialised, when the
    block exits (also on an error), so that a tool leaves no process group
    behind.

    On a normal exit all ranks first meet at a barrier: a rank that tore
    down its ``gloo`` connections while another was still in its last
    collective could abort that rank at exit. After an error there is no
    barrier (the other ranks may never reach it).
    """
    finished = False
    try:
        yield
        finished = True
    finally:
        if torch_dist.is_available() and torch_dist.is_initialized():
            if finished:
                torch_dist.barrier()
            torch_dist.destroy_process_group()


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
