"""Configs, trainings and split collection of an experiment, through
:func:`mmlt.utils.build_runner` (so ``runner_type`` and
``trust_checkpoints`` of a config are honoured)."""
import copy
import logging
import os.path as osp
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dist import get_rank
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from torch.utils.data import DataLoader, Subset

from mmlt.evaluation.rebalancing import collect_logits
from mmlt.utils import (apply_checkpoint_trust, build_runner,
                        load_checkpoints_strictly)
from .split_record import SplitRecord


def load_config(config: str,
                work_dir: str,
                seed: int = 0,
                cfg_options: Optional[dict] = None,
                max_epochs: Optional[int] = None) -> Config:
    """``config`` for a run in ``work_dir`` with training seed ``seed``.

    Args:
        config (str): Path of an MMEngine config.
        work_dir (str): Directory of checkpoints, logs and the dumped config.
        seed (int): ``randomness.seed`` (initialisation, shuffling,
            augmentation; a long-tailed subset has its own seed in the
            dataset config). Defaults to 0.
        cfg_options (dict, optional): Overrides, as ``--cfg-options``.
        max_epochs (int, optional): A new length of the schedule (see
            :func:`max_epochs_options`). Defaults to None.

    Returns:
        Config: The config.
    """
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed, deterministic=False)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if max_epochs is not None:
        cfg.merge_from_dict(max_epochs_options(cfg, max_epochs))
    return cfg


def max_epochs_options(cfg: Config, max_epochs: int) -> Dict:
    """``--cfg-options`` that change an epoch-based schedule to
    ``max_epochs`` epochs: ``train_cfg.max_epochs``, and every validation
    interval, checkpoint interval and parameter scheduler ``end`` that was
    the old last epoch.

    Args:
        cfg (Config): The config.
        max_epochs (int): The new number of epochs, >= 1.

    Returns:
        dict: Keys in ``merge_from_dict`` format and their new values.
    """
    if max_epochs < 1:
        raise ValueError(f'max_epochs must be positive, got {max_epochs}.')
    old = cfg.train_cfg.max_epochs
    options = {'train_cfg.max_epochs': max_epochs}
    if cfg.train_cfg.get('val_interval') == old:
        options['train_cfg.val_interval'] = max_epochs
    if cfg.default_hooks.get('checkpoint', {}).get('interval') == old:
        options['default_hooks.checkpoint.interval'] = max_epochs
    schedulers = cfg.param_scheduler
    if isinstance(schedulers, list):
        for i, scheduler in enumerate(schedulers):
            if scheduler.get('end') == old:
                options[f'param_scheduler.{i}.end'] = max_epochs
    elif schedulers.get('end') == old:
        options['param_scheduler.end'] = max_epochs
    return options


class _TrainingProgress(logging.Filter):
    """Passes warnings and errors, and the progress lines of mmengine's
    ``LoggerHook`` (epoch / iteration, loss, ETA; not its ``Exp name``
    line at the end of each epoch)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return (record.module == 'logger_hook'
                and not record.getMessage().startswith('Exp name'))


def show_training_progress(logger: logging.Logger) -> None:
    """Print the ``LoggerHook`` lines of ``logger`` (a runner's) on the
    console of rank 0 whatever its ``log_level``; other INFO messages stay
    off the console."""
    if get_rank() != 0:
        return
    for handler in logger.handlers:
        if (isinstance(handler, logging.StreamHandler)
                and not isinstance(handler, logging.FileHandler)
                and handler.level > logging.INFO):
            handler.setLevel(logging.INFO)
            handler.addFilter(_TrainingProgress())


def train(cfg: Config, experiment_name: str, progress: bool = False) -> str:
    """Train ``cfg`` without validation (the validation split is for the
    choices made after training); return the last checkpoint's path.

    Args:
        cfg (Config): The config.
        experiment_name (str): The runner's experiment (and logger) name.
        progress (bool): Print the training progress of mmengine's
            ``LoggerHook`` even when ``cfg.log_level`` hides INFO messages
            (see :func:`show_training_progress`). Defaults to False.

    Returns:
        str: The last checkpoint.
    """
    cfg = copy.deepcopy(cfg)
    cfg.experiment_name = experiment_name
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    apply_checkpoint_trust(cfg)
    runner = build_runner(cfg)
    if progress:
        show_training_progress(runner.logger)
    runner.train()
    checkpoint = osp.join(cfg.work_dir,
                          f'epoch_{cfg.train_cfg.max_epochs}.pth')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Training did not write {checkpoint}.')
    return checkpoint


def load_runner(cfg: Config,
                checkpoint: str,
                experiment_name: Optional[str] = None) -> Runner:
    """The runner of ``cfg`` (``runner_type`` and ``trust_checkpoints``
    honoured) with the model weights of ``checkpoint``, loaded strictly
    (:func:`load_checkpoints_strictly`).

    Args:
        cfg (Config): The config (not modified).
        checkpoint (str): The checkpoint, loaded as ``load_from``.
        experiment_name (str, optional): The runner's experiment name; None
            keeps the config's (mmengine's timestamp if it has none).

    Returns:
        Runner: The runner, weights loaded.
    """
    cfg = copy.deepcopy(cfg)
    if experiment_name is not None:
        cfg.experiment_name = experiment_name
    cfg.load_from = checkpoint
    apply_checkpoint_trust(cfg)
    runner = build_runner(cfg)
    load_checkpoints_strictly(runner, cfg.filename)
    runner.load_or_resume()
    return runner


def find_head(model: torch.nn.Module,
              head_type: type = torch.nn.Module,
              hint: str = '') -> Tuple[torch.nn.Module, str]:
    """The classifier head ``model.head`` of a (possibly wrapped) model and
    its state-dict prefix, refused unless it is a ``head_type``.

    Args:
        model (torch.nn.Module): The model, or its DDP wrapper.
        head_type (type): The head class needed. Defaults to any module.
        hint (str): How to get such a head, for the error message.

    Returns:
        tuple[torch.nn.Module, str]: The head and ``'head.'``.
    """
    if is_model_wrapper(model):
        model = model.module
    head = getattr(model, 'head', None)
    if not isinstance(head, head_type):
        raise TypeError(f'The model needs a {head_type.__name__} at '
                        f'model.head, got {type(head).__name__}. {hint}')
    return head, 'head.'


def build_split_loader(cfg: Config,
                       split: str,
                       max_samples: Optional[int] = None,
                       seed: int = 0) -> DataLoader:
    """The ``{split}_dataloader`` of ``cfg``; with ``max_samples``, over a
    random subset of that many samples drawn with ``seed`` (sorted, so in
    dataset order)."""
    loader = Runner.build_dataloader(cfg[f'{split}_dataloader'], seed=seed)
    dataset = loader.dataset
    if max_samples is None or max_samples >= len(dataset):
        return loader
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(len(dataset), max_samples, False))
    return DataLoader(
        Subset(dataset, indices.tolist()),
        batch_size=loader.batch_size,
        collate_fn=loader.collate_fn,
        num_workers=0)


def loader_metainfo(loader: DataLoader) -> dict:
    """The metainfo of a loader's dataset (also through the subset of
    :func:`build_split_loader`)."""
    dataset = loader.dataset
    if isinstance(dataset, Subset):
        dataset = dataset.dataset
    return dataset.metainfo


def collect_split(model: torch.nn.Module, loader: DataLoader,
                  split: str) -> Optional[SplitRecord]:
    """The :class:`SplitRecord` of ``model`` over ``loader``, gathered from
    all ranks in dataset order (see :func:`collect_logits`).

    Args:
        model (torch.nn.Module): A classifier whose head keeps the logits.
        loader (DataLoader): The split (e.g. of :func:`build_split_loader`).
        split (str): Its name, e.g. ``'val'``.

    Returns:
        SplitRecord | None: The record on rank 0, None on the other ranks.
    """
    metainfo = loader_metainfo(loader)
    counts = metainfo.get('train_class_counts')
    if counts is None:
        raise ValueError(
            f'The {split} dataset has no `train_class_counts` in its '
            'metainfo (needed for the many/medium/few groups and the prior '
            'of logit adjustment); wrap it in an mmlt long-tailed dataset '
            '(LongTailDataset with subsample=False, CIFAR100LT, ...).')
    collected = collect_logits(model, loader)
    if collected is None:
        return None
    logits, labels = collected
    return SplitRecord(split, logits, labels, tuple(counts),
                       metainfo.get('classes'))
