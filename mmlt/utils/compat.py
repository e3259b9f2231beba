"""Compatibility patches for mmengine 0.10.x on current PyTorch.

Applied once, at ``import mmlt``.

mmlt needs torch >= 2.6 (:data:`MIN_TORCH_VERSION`), the first release whose
``torch.load`` defaults to ``weights_only=True``; on older versions mmengine
would load every checkpoint with full pickle, so ``import mmlt`` refuses
them.

1. Checkpoint loading (on torch >= 2.6 mmengine's own checkpoints no longer
   load with the default ``weights_only=True``). mmengine's own loaders of
   every checkpoint scheme (local files, ``http(s)://`` and the
   ``torchvision://`` / ``mmcls://`` / ``open-mmlab://`` names that resolve
   to URLs, ``s3://`` / ``petrel://``, ``pavi://``) are re-registered wrapped
   in mmlt's policy: every file is read by torch's weights-only unpickler
   with a small allowlist: exactly the globals an mmengine checkpoint holds
   besides tensors and containers (:class:`~mmengine.logging.HistoryBuffer`
   from the message hub, numpy arrays, dtypes and scalars, and the two
   annealing functions that :class:`~mmengine.optim.OneCycleParamScheduler`,
   the base of ``OneCycleLR``, keeps as ``anneal_func`` in its state). A
   file that needs any other global is refused with
   :class:`UntrustedCheckpointError`, which names the global. A trusted file
   can still be loaded with full pickle by setting the environment variable
   ``MMLT_TRUST_CHECKPOINTS=1`` (the tools also accept
   ``trust_checkpoints = True`` in the config). A local path (no scheme)
   that is empty, not a PyTorch checkpoint at all, or truncated is an error
   that names the file and says which (:class:`CorruptCheckpointError`).
2. Distributed initialisation without CUDA. mmengine's ``pytorch``,
   ``slurm`` and ``mpi`` launchers call ``torch.cuda.set_device``
   unconditionally, which fails on a CPU-only machine. When CUDA is not
   available the call is skipped, so ``init_dist(..., backend='gloo')``
   works for CPU multi-process runs.
3. Dataset subsets. mmengine's ``BaseDataset.get_subset`` copies the
   dataset with ``_copy_without_annotation(memo=dict())``, a default
   argument, so one ``copy.deepcopy`` memo is shared by every subset taken
   in the process: a later subset gets the earlier subsets' copies of the
   same attributes (their pipelines are one object), and an attribute
   whose ``id`` is that of a freed object copied earlier is replaced by
   that stale copy (seen as a ``LongTailDataset`` whose pipeline was a
   ``FashionMNIST`` dataset). Each call now gets a fresh memo.

What is left, and why (mmengine's loaders and torch's public
``torch.serialization`` API do the rest):

- mmengine's ``load_url`` is replaced: ``load_from_http`` (also behind
  ``torchvision://``, ``mmcls://`` and ``open-mmlab://`` URLs) goes through
  ``torch.hub.load_state_dict_from_url``, whose ``weights_only`` defaults
  to False, so without it a downloaded file would be unpickled in full.
- The other loaders call ``torch.load`` without ``weights_only``, so the
  opt-in reaches them only through torch's own switch for that case,
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``, which the policy sets around each
  load: to 1 for a trusted load, to 0 otherwise (so the same variable set by
  the user cannot silently turn the allowlist off). Checkpoints are loaded
  from one thread, as mmengine's runner does.
- The allowlist is entered with ``torch.serialization.safe_globals`` around
  mmengine's loads, not ``add_safe_globals``, which would widen every
  ``torch.load`` of the process; and it holds a stand-in for
  ``builtins.getattr`` that resolves only the few attributes above (torch's
  allowlist takes whole globals, and plain ``getattr`` of an allowed class
  reaches any of its attributes).
- The refusal message (the global, the opt-in) replaces torch's.
- Patch 2 stays: a ``gloo`` process group initialised before the runner
  (``Runner.setup_env`` then skips ``init_dist``) works for mmlt's tools
  only; MMPretrain's own tools, which import mmlt through
  ``custom_imports``, call ``init_dist`` themselves and reach
  ``torch.cuda.set_device`` through the private ``_init_dist_*`` functions,
  the only place to skip it.
"""
import functools
import logging
import os
import os.path as osp
import pickle
import re
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Tuple

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log
from mmengine.optim.scheduler.param_scheduler import OneCycleParamScheduler
from mmengine.utils import digit_version

MIN_TORCH_VERSION = '2.6.0'
TRUST_ENV_VAR = 'MMLT_TRUST_CHECKPOINTS'
# torch.load's own switch to full pickle for calls without weights_only
_TORCH_FULL_PICKLE_ENV_VAR = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'
_TRUE_VALUES = ('1', 'true', 'yes', 'on')
_FALSE_VALUES = ('', '0', 'false', 'no', 'off')

# Pickle protocol 2 stores a function defined in a class as
# ``getattr(Class, name)``. An mmengine checkpoint holds two kinds: the
# statistics methods of HistoryBuffer (message hub), and the annealing
# function OneCycleParamScheduler (OneCycleLR) keeps as ``anneal_func`` in
# its state.
_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')
_ONE_CYCLE_ANNEALING_FUNCTIONS = ('_annealing_cos', '_annealing_linear')

# numpy dtypes whose arrays / scalars may appear in a checkpoint (no object
# or structured dtypes: those can carry arbitrary Python objects).
_NUMPY_DTYPE_CHARS = '?bBhHiIlLqQefdgFDGUS'


# How the two formats of ``torch.save`` begin: a zip archive (the default
# since torch 1.6) or a pickle (protocol 2 or later).
_ZIP_MAGIC = b'PK\x03\x04'
_PICKLE_PROTO = b'\x80'


class UntrustedCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a global outside mmlt's weights-only allowlist."""


class CorruptCheckpointError(ValueError):
    """A checkpoint file is empty, truncated or not a checkpoint."""


def check_torch_version(torch_version: str = torch.__version__) -> None:
    """Refuse a torch older than :data:`MIN_TORCH_VERSION`.

    Args:
        torch_version (str): The version to check; the installed one by
            default.
    """
    if digit_version(torch_version) < digit_version(MIN_TORCH_VERSION):
        raise ImportError(
            f'mmlt needs torch>={MIN_TORCH_VERSION} (its weights-only '
            f'checkpoint loader), but torch {torch_version} is installed; '
            'on older torch mmengine loads checkpoints with full pickle, '
            f'which can run arbitrary code. Install torch>={MIN_TORCH_VERSION}'
            ' (see requirements/runtime.txt).')


def check_checkpoint_file(filename: str) -> None:
    """Refuse a file that cannot be a ``torch.save`` checkpoint.

    Args:
        filename (str): Path of an existing local file.
    """
    with open(filename, 'rb') as f:
        head = f.read(len(_ZIP_MAGIC))
    if not head:
        raise CorruptCheckpointError(
            f'Checkpoint {filename} is empty (0 bytes), not a checkpoint; '
            'was it written completely?')
    if not head.startswith((_ZIP_MAGIC, _PICKLE_PROTO)):
        raise CorruptCheckpointError(
            f'{filename} is not a PyTorch checkpoint: it starts with '
            f'{head!r}, not with the bytes of a file written by torch.save '
            '(a zip archive or a pickle).')


def _truncated(filename: str, error: Exception) -> CorruptCheckpointError:
    """The error for a checkpoint that begins like one but cannot be read."""
    return CorruptCheckpointError(
        f'Checkpoint {filename} is truncated or corrupted: it begins like a '
        'file written by torch.save but cannot be read to its end '
        f'({type(error).__name__}: {str(error).splitlines()[0]}). Was it '
        'copied or written completely?')


def checkpoints_trusted() -> bool:
    """Read the opt-in ``MMLT_TRUST_CHECKPOINTS`` environment variable.

    Returns:
        bool: True if checkpoints may be loaded with full pickle.
    """
    value = os.environ.get(TRUST_ENV_VAR, '').strip().lower()
    if value in _TRUE_VALUES:
        return True
    if value in _FALSE_VALUES:
        return False
    raise ValueError(f'{TRUST_ENV_VAR}={os.environ[TRUST_ENV_VAR]!r} is not '
                     f'understood; expected one of {_TRUE_VALUES} to trust '
                     f'checkpoints or one of {_FALSE_VALUES[1:]} (or unset).')


class _ClassAttributes:
    """What the unpickler gets for ``GLOBAL`` of a class that is allowed only
    as the owner of some attributes: it resolves those attributes through
    :func:`_allowed_getattr`, and cannot be called or instantiated.

    Args:
        cls (type): The class.
        names (tuple[str]): Its attributes that may be looked up.
    """

    def __init__(self, cls: type, names: Tuple[str, ...]) -> None:
        self.cls = cls
        self.names = names
        self.path = f'{cls.__module__}.{cls.__qualname__}'

    def __call__(self, *args, **kwargs):
        raise pickle.UnpicklingError(
            f'GLOBAL {self.path} was not an allowed global: mmlt only allows '
            f'getattr of {self.names} on it.')


_ONE_CYCLE_ANNEALING = _ClassAttributes(OneCycleParamScheduler,
                                        _ONE_CYCLE_ANNEALING_FUNCTIONS)


def _allowed_getattr(obj: Any, name: str) -> Callable:
    """Stand-in for ``builtins.getattr`` while unpickling: only resolves the
    statistics methods of :class:`HistoryBuffer` and the annealing functions
    of :class:`OneCycleParamScheduler`."""
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_METHODS:
        return getattr(HistoryBuffer, name)
    if obj is _ONE_CYCLE_ANNEALING and name in obj.names:
        return getattr(obj.cls, name)
    owner = obj.cls if isinstance(obj, _ClassAttributes) else obj
    raise pickle.UnpicklingError(
        f'GLOBAL builtins.getattr was not an allowed global: mmlt only '
        f'allows getattr(HistoryBuffer, {_HISTORY_BUFFER_METHODS}) and '
        f'getattr(OneCycleParamScheduler, {_ONE_CYCLE_ANNEALING_FUNCTIONS}), '
        f'got getattr({owner!r}, {name!r}).')


def checkpoint_allowlist() -> List[Any]:
    """Globals of an mmengine checkpoint beyond torch's default allowlist.

    Returns:
        list: entries for :func:`torch.serialization.safe_globals`.
    """
    multiarray = np._core.multiarray if hasattr(
        np, '_core') else np.core.multiarray
    allowlist: List[Any] = [
        HistoryBuffer,
        (_allowed_getattr, 'builtins.getattr'),
        (_ONE_CYCLE_ANNEALING, _ONE_CYCLE_ANNEALING.path),
        np.ndarray,
        np.dtype,
    ]
    # numpy 1.x pickles ``numpy.core.*``, numpy 2.x ``numpy._core.*``.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowlist.append((multiarray._reconstruct, f'{module}._reconstruct'))
        allowlist.append((multiarray.scalar, f'{module}.scalar'))
    allowlist.extend(type(np.dtype(char)) for char in _NUMPY_DTYPE_CHARS)
    return allowlist


def _unsupported_global(error: Exception) -> Optional[str]:
    """The global named in a weights-only unpickling error, if any."""
    for pattern in (r'GLOBAL (\S+) was not an allowed global',
                    r'unsupported GLOBAL (\S+) whose module',
                    r'unrecognized function (.+?)(?: which belongs|$)',
                    r'but got (<class \S+>)'):
        match = re.search(pattern, str(error))
        if match:
            return match.group(1)
    return None


@contextmanager
def _torch_load_default(weights_only: bool) -> Iterator[None]:
    """Make ``torch.load`` calls that leave ``weights_only`` unset (as
    mmengine's loaders do) use ``weights_only``, through torch's
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``; restore it afterwards."""
    previous = os.environ.get(_TORCH_FULL_PICKLE_ENV_VAR)
    os.environ[_TORCH_FULL_PICKLE_ENV_VAR] = '0' if weights_only else '1'
    try:
        with warnings.catch_warnings():
            # torch's warning names its variable; mmlt's names the opt-in
            warnings.filterwarnings(
                'ignore', f'Environment variable {_TORCH_FULL_PICKLE_ENV_VAR}')
            yield
    finally:
        if previous is None:
            del os.environ[_TORCH_FULL_PICKLE_ENV_VAR]
        else:
            os.environ[_TORCH_FULL_PICKLE_ENV_VAR] = previous


def _load_with_policy(source: str, load: Callable[[], Any]) -> Any:
    """Run ``load()`` (an mmengine loader) under mmlt's checkpoint policy.

    Args:
        source (str): Name of the checkpoint, for messages.
        load (Callable[[], Any]): Loads the checkpoint with ``torch.load``.

    Returns:
        The loaded checkpoint.
    """
    trusted = checkpoints_trusted()
    if trusted:
        print_log(
            f'{TRUST_ENV_VAR} is set: loading {source} with full pickle.',
            logger='current',
            level=logging.WARNING)
    with _torch_load_default(weights_only=not trusted), \
            torch.serialization.safe_globals(checkpoint_allowlist()):
        try:
            return load()
        except pickle.UnpicklingError as error:
            if trusted:
                raise
            name = _unsupported_global(error) or 'an object'
            raise UntrustedCheckpointError(
                f'Refusing to load checkpoint {source}: it needs {name}, '
                'which is outside the weights-only allowlist (tensors, '
                'containers, mmengine HistoryBuffer, numpy arrays/dtypes/'
                'scalars, OneCycleLR annealing functions). Only if you '
                'trust this file, set the environment '
                f'variable {TRUST_ENV_VAR}=1 (or `trust_checkpoints = True` '
                'in the config of tools/train.py or tools/test.py) to load '
                'it with full pickle, which can run arbitrary code. '
                f'Unpickler message: {error}') from error


def _with_policy(loader: Callable, local: bool = False) -> Callable:
    """Wrap an mmengine checkpoint loader in :func:`_load_with_policy`; for
    local files also refuse empty, foreign and truncated files."""

    @functools.wraps(loader)
    def load(filename: str, *args, **kwargs) -> Any:
        if not local:
            return _load_with_policy(
                filename, lambda: loader(filename, *args, **kwargs))
        filename = osp.expanduser(filename)
        if not osp.isfile(filename):
            raise FileNotFoundError(f'{filename} can not be found.')
        check_checkpoint_file(filename)
        try:
            return _load_with_policy(
                filename, lambda: loader(filename, *args, **kwargs))
        except (EOFError, OSError) as error:
            raise _truncated(filename, error) from error
        except RuntimeError as error:  # torch's messages for a cut-off file
            if not re.search(r'PytorchStreamReader|EOF|corrupt', str(error)):
                raise
            raise _truncated(filename, error) from error

    return load


def _load_url(url: str, *args, **kwargs) -> Any:
    """``torch.hub.load_state_dict_from_url`` (mmengine's ``load_url``) with
    ``weights_only`` unless checkpoints are trusted: torch.hub's default is
    full pickle."""
    return torch.hub.load_state_dict_from_url(
        url, *args, weights_only=not checkpoints_trusted(), **kwargs)


def patch_checkpoint_loading() -> None:
    """Register mmengine's loaders, wrapped in mmlt's policy, for their
    checkpoint schemes."""
    from mmengine.runner import checkpoint as ckpt
    ckpt.load_url = _load_url
    for prefixes, loader in [
        ('', ckpt.load_from_local),
        (('http://', 'https://'), ckpt.load_from_http),
        ('pavi://', ckpt.load_from_pavi),
        ([r'(\S+\:)?s3://', r'(\S+\:)?petrel://'], ckpt.load_from_ceph),
        (('modelzoo://', 'torchvision://'), ckpt.load_from_torchvision),
        (('open-mmlab://', 'openmmlab://'), ckpt.load_from_openmmlab),
        ('mmcls://', ckpt.load_from_mmcls),
    ]:
        ckpt.CheckpointLoader.register_scheme(
            prefixes, _with_policy(loader, local=prefixes == ''), force=True)


def _without_cuda_set_device(init_fn: Callable) -> Callable:
    """Wrap a launcher's init function to skip ``torch.cuda.set_device``
    (restored after the call) when CUDA is not available."""

    @functools.wraps(init_fn)
    def init_dist_launcher(*args, **kwargs):
        if torch.cuda.is_available():
            return init_fn(*args, **kwargs)
        set_device = torch.cuda.set_device
        torch.cuda.set_device = lambda device: None
        try:
            return init_fn(*args, **kwargs)
        finally:
            torch.cuda.set_device = set_device

    init_dist_launcher.__mmlt_patched__ = True
    return init_dist_launcher


def patch_dist_init() -> None:
    """Wrap mmengine's ``pytorch``, ``slurm`` and ``mpi`` initialisers."""
    from mmengine.dist import utils as dist_utils
    for name in ('_init_dist_pytorch', '_init_dist_slurm', '_init_dist_mpi'):
        init_fn = getattr(dist_utils, name)
        if not getattr(init_fn, '__mmlt_patched__', False):
            setattr(dist_utils, name, _without_cuda_set_device(init_fn))


def patch_subset_copy() -> None:
    """Give each ``BaseDataset._copy_without_annotation`` call (behind
    ``get_subset``) a fresh deepcopy memo instead of mmengine's shared
    default one."""
    from mmengine.dataset import BaseDataset
    copy_fn = BaseDataset._copy_without_annotation
    if getattr(copy_fn, '__mmlt_patched__', False):
        return

    @functools.wraps(copy_fn)
    def _copy_without_annotation(self, memo: Optional[dict] = None):
        return copy_fn(self, {} if memo is None else memo)

    _copy_without_annotation.__mmlt_patched__ = True
    BaseDataset._copy_without_annotation = _copy_without_annotation


check_torch_version()
patch_dist_init()
patch_checkpoint_loading()
patch_subset_copy()
