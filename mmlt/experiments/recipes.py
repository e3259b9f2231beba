r"""The recipes of the long-tail trainings that the accuracy benchmark
compares, each derived from one plain cross-entropy config (same backbone,
schedule and data):

- ``ce``: the config itself;
- ``logit_adjust``: ``LogitAdjustLoss`` with tau 1 (Menon et al. 2021);
- ``balanced_softmax``: ``BalancedSoftmaxLoss`` (Ren et al. 2020);
- ``ldam_drw``: LDAM-DRW (Cao et al. 2019): cosine head
  (``NormedLinearClsHead``, s = 30), max margin 0.5, deferred re-weighting
  (effective number, beta 0.9999) from 80 % of the epochs (160 / 200 in
  the paper);
- ``gala``: ``GALALoss`` with ``AccumulatedGradientHook``;
- ``lort``: LORT stage 2 (Wang et al. 2024): the classifier of a stage-1
  model re-trained on its frozen features (SGD lr 5e-4, momentum 0.9, no
  weight decay, cosine).
"""
import copy
from typing import Optional

from mmengine.config import Config
from mmpretrain.registry import DATASETS

from mmlt.models.losses import lort_eps_from_ratio, lort_target_ratio
from .runs import load_config, max_epochs_options

TRAININGS = ('ce', 'logit_adjust', 'balanced_softmax', 'ldam_drw', 'gala',
             'lort')
DATASET_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'data_preprocessor')
# LDAM-DRW (Cao et al. 2019, and their code): margins, scale, DRW from
# epoch 160 of 200, effective-number beta
LDAM = dict(max_margin=0.5, scale=30.0, drw_fraction=0.8, drw_beta=0.9999)
# LORT stage 2 (Wang et al. 2024): only the classifier, on frozen features
LORT_STAGE2 = dict(lr=5e-4, momentum=0.9, weight_decay=0.)
LORT_PAPER_EPS, LORT_PAPER_CLASSES = 0.98, 100  # CIFAR-100-LT
GALA_HOOK_INTERVAL = 50


def paper_ratio_eps(num_classes: int) -> float:
    """LORT's eps on ``num_classes`` classes with the true-to-other target
    ratio :math:`r = 1 + K (1 - \\epsilon) / \\epsilon` of the paper's
    CIFAR-100-LT setting (eps 0.98 at K = 100, r = 3.04), rounded to 3
    decimals: :math:`\\epsilon = K / (K + r - 1)`."""
    ratio = lort_target_ratio(LORT_PAPER_EPS, LORT_PAPER_CLASSES)
    return round(lort_eps_from_ratio(ratio, num_classes), 3)


def base_config(config: str,
                work_dir: str,
                seed: int = 0,
                dataset_config: Optional[str] = None,
                imbalance_factor: Optional[float] = None,
                cfg_options: Optional[dict] = None,
                epochs: Optional[int] = None,
                log_level: str = 'WARNING') -> Config:
    """The cross-entropy config every recipe starts from.

    Applied in this order: ``config`` (:func:`load_config`), the
    dataloaders and data pre-processor of ``dataset_config``, the imbalance
    factor on all three splits, ``cfg_options`` and the number of epochs
    (:func:`max_epochs_options`). The head, which must be linear, becomes a
    ``LogitsLinearClsHead`` (predictions carry the raw logits).

    Args:
        config (str): A plain cross-entropy config (model, schedule, data).
        work_dir (str): Its work directory.
        seed (int): The training seed. Defaults to 0.
        dataset_config (str, optional): A config whose data replaces the
            base config's.
        imbalance_factor (float, optional): ``imbalance_factor`` of the
            three datasets; None keeps the config's.
        cfg_options (dict, optional): Overrides, as ``--cfg-options``.
        epochs (int, optional): A new length of the schedule.
        log_level (str): The runner's log level. Defaults to 'WARNING'.

    Returns:
        Config: The config, ``load_from`` None.
    """
    cfg = load_config(config, work_dir, seed)
    if dataset_config:
        data = Config.fromfile(dataset_config)
        for key in DATASET_KEYS:
            if key in data:
                cfg[key] = copy.deepcopy(data[key])
    if imbalance_factor is not None:
        cfg.merge_from_dict({
            f'{split}_dataloader.dataset.imbalance_factor': imbalance_factor
            for split in ('train', 'val', 'test')
        })
    cfg.merge_from_dict(cfg_options or {})
    if epochs is not None:
        cfg.merge_from_dict(max_epochs_options(cfg, epochs))
    head = cfg.model.head
    if head.type not in ('LinearClsHead', 'LogitsLinearClsHead'):
        raise ValueError(
            f'The base config {config} must train a linear head with '
            f'cross-entropy, got model.head.type={head.type!r} (the recipes '
            'replace the loss, and LDAM-DRW the head).')
    head.type = 'LogitsLinearClsHead'  # predictions carry the raw logits
    cfg.load_from = None
    cfg.log_level = log_level
    return cfg


def _with_hooks(cfg: Config, *hooks: dict) -> Config:
    """``cfg`` with ``hooks`` appended to its ``custom_hooks``."""
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + list(hooks)
    return cfg


def training_config(name: str,
                    cfg: Config,
                    value=None,
                    stage1_checkpoint: Optional[str] = None,
                    stage2_epochs: Optional[int] = None) -> Config:
    """The config of training ``name`` from the cross-entropy config
    ``cfg`` (not modified).

    Args:
        name (str): One of :data:`TRAININGS`.
        cfg (Config): The config of :func:`base_config`.
        value: The swept hyper-parameter: GALA's ``(lambda1, lambda2)``,
            LORT's eps; None for the others.
        stage1_checkpoint (str, optional): Where LORT stage 2 starts.
        stage2_epochs (int, optional): LORT stage 2's epochs.

    Returns:
        Config: The training's config.
    """
    cfg = copy.deepcopy(cfg)
    head = cfg.model.head
    if name == 'ce':
        return cfg
    if name == 'logit_adjust':
        head.loss = dict(type='LogitAdjustLoss', tau=1.0)
        return _with_hooks(cfg, dict(type='ClassCountsHook'))
    if name == 'balanced_softmax':
        head.loss = dict(type='BalancedSoftmaxLoss')
        return _with_hooks(cfg, dict(type='ClassCountsHook'))
    if name == 'ldam_drw':
        epochs = cfg.train_cfg.max_epochs
        cfg.model.head = dict(
            type='NormedLinearClsHead',
            num_classes=head.num_classes,
            in_channels=head.in_channels,
            scale=LDAM['scale'],
            loss=dict(
                type='LDAMLoss',
                max_margin=LDAM['max_margin'],
                scale=LDAM['scale'],
                drw_start_epoch=int(LDAM['drw_fraction'] * epochs),
                drw_beta=LDAM['drw_beta']),
            **{key: head[key]
               for key in ('topk', 'cal_acc') if key in head})
        return _with_hooks(cfg, dict(type='ClassCountsHook'),
                          dict(type='LossEpochHook'))
    if name == 'gala':
        lambda1, lambda2 = value
        head.loss = dict(
            type='GALALoss',
            num_classes=head.num_classes,
            lambda1=lambda1,
            lambda2=lambda2)
        return _with_hooks(
            cfg, dict(type='AccumulatedGradientHook',
                      interval=GALA_HOOK_INTERVAL))
    if name == 'lort':
        if stage1_checkpoint is None or stage2_epochs is None:
            raise ValueError('LORT stage 2 needs the stage-1 checkpoint and '
                             'its number of epochs.')
        cfg.model.type = 'FrozenFeatureClassifier'
        cfg.model.norm_eval = True
        head.loss = dict(type='LORTLoss', eps=value)
        cfg.optim_wrapper.optimizer = dict(type='SGD', **LORT_STAGE2)
        epochs = stage2_epochs
        cfg.param_scheduler = dict(
            type='CosineAnnealingLR',
            by_epoch=True,
            begin=0,
            end=epochs,
            convert_to_iter_based=True)
        cfg.train_cfg = dict(by_epoch=True, max_epochs=epochs)
        cfg.default_hooks.checkpoint.interval = epochs
        cfg.load_from = stage1_checkpoint
        return _with_hooks(cfg, dict(type='ClassifierRetrainingHook'))
    raise ValueError(f'Unknown training {name!r}; expected one of '
                     f'{TRAININGS}.')


def fixed_reason(name: str, value, num_classes: int) -> str:
    """Why the value of a one-value grid of training ``name`` was used (it
    was not chosen), for the record of the choices."""
    reason = 'one-value grid, not chosen'
    if name == 'gala' and tuple(value) == (1.0, 1.0):
        reason += (': lambda1 = lambda2 = 1 is logit adjustment with the '
                   'accumulated-gradient prior (the notes\' yardstick)')
    paper_ratio = lort_target_ratio(LORT_PAPER_EPS, LORT_PAPER_CLASSES)
    if name == 'lort' and value == paper_ratio_eps(num_classes):
        reason += (': the eps whose true-to-other target ratio is the '
                   f"paper's (eps {LORT_PAPER_EPS} on {LORT_PAPER_CLASSES} "
                   f'classes, ratio {paper_ratio:.2f})')
    return reason


def check_split_counts(cfg: Config, val_meta: dict, test_meta: dict) -> list:
    """The train split's ``train_class_counts``, checked against the ones
    the validation and test splits report and the head's classes.

    Args:
        cfg (Config): The config (its ``train_dataloader`` is built).
        val_meta (dict): The validation dataset's metainfo.
        test_meta (dict): The test dataset's metainfo.

    Returns:
        list[int]: The training class counts.
    """
    train_meta = DATASETS.build(cfg.train_dataloader.dataset).metainfo
    counts = train_meta.get('train_class_counts')
    if counts is None:
        raise ValueError(
            'The train dataset has no train_class_counts in its metainfo; '
            'use an mmlt long-tailed dataset (LongTailDataset, CIFAR100LT, '
            '...).')
    for split, meta in (('val', val_meta), ('test', test_meta)):
        if tuple(meta.get('train_class_counts', ())) != tuple(counts):
            raise ValueError(
                f'The {split} split reports train_class_counts '
                f'{meta.get("train_class_counts")}, the train split has '
                f'{tuple(counts)}: give the {split} dataloader the same '
                'long-tail profile (imbalance_factor, n_max, ...).')
    if len(counts) != cfg.model.head.num_classes:
        raise ValueError(
            f'The data has {len(counts)} classes but model.head.num_classes='
            f'{cfg.model.head.num_classes}; set it with --cfg-options.')
    return [int(n) for n in counts]
