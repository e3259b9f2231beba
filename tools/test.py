"""Test (and evaluate) a checkpoint with MMPretrain's runner and mmlt.

Same interface as MMPretrain's ``tools/test.py``. Without a GPU a
distributed launch uses the ``gloo`` backend and DDP without device ids.
"""
import argparse
import os
import os.path as osp
import sys
from copy import deepcopy

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmengine  # noqa: E402
import torch.distributed as torch_dist  # noqa: E402
from mmengine.config import Config, ConfigDict, DictAction  # noqa: E402
from mmengine.device import get_device  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402
from mmengine.evaluator import DumpResults  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmlt  # noqa: E402,F401  (compat patches and registries)
from mmlt.utils import apply_checkpoint_trust  # noqa: E402
from mmlt.utils import setup_cpu_distributed  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the directory to save the evaluation logs')
    parser.add_argument('--out', help='file to write results to')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='write the metrics or the predictions to --out '
        '(defaults to predictions)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, xxx=yyy format; lists as key="[a,b]" '
        'or key=a,b, nested as key="[(a,b),(c,d)]" (quotes needed, no '
        'white space)')
    parser.add_argument(
        '--show-dir', help='directory where visualised predictions are saved')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable the pin_memory option of the dataloader')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: `tta_pipeline` and `tta_model` of the '
        'config if present, else horizontal-flip TTA averaging the scores')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.out is None and args.out_item is not None:
        parser.error('--out-item needs --out (the file to write to)')
    return args


def merge_args(cfg, args):
    """Merge command line arguments into the config."""
    cfg.launcher = args.launcher

    # work_dir priority: CLI > config > ./work_dirs/CONFIG_NAME
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    cfg.load_from = args.checkpoint

    if args.show_dir is not None:
        visualization = cfg.get('default_hooks', {}).get('visualization')
        if visualization is None:
            raise ValueError(
                '--show-dir needs `default_hooks.visualization = dict(type='
                '"VisualizationHook")` in the config.')
        visualization.enable = True
        visualization.out_dir = args.show_dir

    if args.tta:
        if 'tta_model' not in cfg:
            cfg.tta_model = dict(type='mmpretrain.AverageClsScoreTTA')
        if 'tta_pipeline' not in cfg:
            test_pipeline = cfg.test_dataloader.dataset.pipeline
            cfg.tta_pipeline = deepcopy(test_pipeline)
            cfg.tta_pipeline[-1] = dict(
                type='TestTimeAug',
                transforms=[[
                    dict(type='RandomFlip', prob=1.),
                    dict(type='RandomFlip', prob=0.)
                ], [test_pipeline[-1]]])
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    test_dataloader = cfg.test_dataloader
    test_dataloader.setdefault('pin_memory', get_device() == 'cuda')
    test_dataloader.setdefault('collate_fn', dict(type='default_collate'))
    if args.no_pin_memory:
        test_dataloader.pin_memory = False

    setup_cpu_distributed(cfg, args.launcher)
    apply_checkpoint_trust(cfg)
    return cfg


def main():
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    try:
        if 'runner_type' not in cfg:
            runner = Runner.from_cfg(cfg)
        else:
            runner = RUNNERS.build(cfg)
        if args.out and args.out_item in ('pred', None):
            runner.test_evaluator.metrics.append(
                DumpResults(out_file_path=args.out))
        metrics = runner.test()
        if args.out and args.out_item == 'metrics' and is_main_process():
            mmengine.dump(metrics, args.out)
    finally:
        if torch_dist.is_available() and torch_dist.is_initialized():
            torch_dist.destroy_process_group()


if __name__ == '__main__':
    main()
