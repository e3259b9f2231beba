"""Train a model with MMPretrain's runner and mmlt's modules.

Same interface as MMPretrain's ``tools/train.py``. Additionally, without a
GPU a distributed launch uses the ``gloo`` backend and DDP without device
ids, so ``tools/dist_train.sh CONFIG 2`` also runs on CPU.
"""
import argparse
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from mmengine.config import Config  # noqa: E402
from mmengine.device import get_device  # noqa: E402

import mmlt  # noqa: E402,F401  (compat patches and registries)
from mmlt.utils import (add_launcher_args, build_runner,  # noqa: E402
                        destroy_process_group_on_exit, merge_cfg_options,
                        parse_launcher_args, prepare_launch,
                        set_launcher_and_work_dir, set_resume)

# Devices supported by mmengine's AmpOptimWrapper.
AMP_DEVICES = ('cuda', 'npu', 'mlu', 'musa')


def build_parser() -> argparse.ArgumentParser:
    """The command line: MMPretrain 1.2.0's ``tools/train.py`` arguments."""
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, resume from the '
        'latest checkpoint in the work directory (if there is none, warn and '
        'start from iteration 0, from load_from if set)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training (needs a GPU)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='skip evaluation during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual batch size divided by '
        '`auto_scale_lr.base_batch_size` of the config')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable the pin_memory option of the dataloaders')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='disable the persistent_workers option of the dataloaders')
    add_launcher_args(parser)
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parse_launcher_args(parser, argv)
    if args.amp and get_device() not in AMP_DEVICES:
        parser.error(
            f'--amp needs one of the devices {AMP_DEVICES} (mmengine\'s '
            f'AmpOptimWrapper), but this machine only has {get_device()!r}. '
            'Drop --amp to train in float32.')
    return args


def set_default_dataloader_cfg(cfg, field, args):
    """Fill MMPretrain's dataloader defaults into ``cfg[field]`` where the
    config (after ``--cfg-options``) leaves them unset."""
    if cfg.get(field) is None:
        return
    dataloader_cfg = cfg[field]
    dataloader_cfg.setdefault('pin_memory', get_device() == 'cuda')
    dataloader_cfg.setdefault('persistent_workers',
                              dataloader_cfg.get('num_workers', 0) > 0)
    dataloader_cfg.setdefault('collate_fn', dict(type='default_collate'))
    if args.no_pin_memory:
        dataloader_cfg.pin_memory = False
    if args.no_persistent_workers:
        dataloader_cfg.persistent_workers = False


def merge_args(cfg, args):
    """Merge command line arguments into the config."""
    if args.no_validate:
        val_options = [
            key for key in args.cfg_options or {}
            if key.split('.')[0] in ('val_cfg', 'val_dataloader',
                                     'val_evaluator')
        ]
        if val_options:
            raise ValueError(
                f'--no-validate removes val_cfg, val_dataloader and '
                f'val_evaluator, but --cfg-options sets {val_options}; drop '
                'those options or --no-validate.')
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    set_launcher_and_work_dir(cfg, args.config, args.launcher, args.work_dir)

    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise ValueError(
                '--auto-scale-lr needs `auto_scale_lr = dict('
                'base_batch_size=...)` in the config (the batch size the '
                f'learning rate was tuned for); {args.config} has none.')
        cfg.auto_scale_lr.enable = True

    merge_cfg_options(cfg, args.cfg_options)

    # After --cfg-options, so that `--resume` resumes from the work directory
    # also when `load_from` (e.g. a stage-1 checkpoint) comes from
    # --cfg-options, and keeps that `load_from` when there is nothing to
    # resume.
    set_resume(cfg, args.resume)

    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        set_default_dataloader_cfg(cfg, field, args)

    prepare_launch(cfg, args.launcher)
    return cfg


def main():
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    with destroy_process_group_on_exit():
        build_runner(cfg).train()


if __name__ == '__main__':
    main()
