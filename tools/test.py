"""Test (and evaluate) a checkpoint with MMPretrain's runner and mmlt.

Same interface as MMPretrain's ``tools/test.py``. Without a GPU a
distributed launch uses the ``gloo`` backend and DDP without device ids.

The positional ``checkpoint`` is the one loaded: it replaces ``load_from``
of the config, and ``--cfg-options load_from=...`` naming another file is an
error (MMPretrain lets the option silently win). It is loaded strictly: a
checkpoint with missing, unexpected or mismatched weights is an error that
lists them (MMPretrain scores it with randomly initialised layers).
``--tta`` on a wrapped test dataset without a pipeline of its own (e.g.
``LongTailDataset``) puts the TTA pipeline on the innermost wrapped dataset.
"""
import argparse
import os.path as osp
import sys
from copy import deepcopy

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmengine  # noqa: E402
from mmengine.config import Config, ConfigDict  # noqa: E402
from mmengine.device import get_device  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402

import mmlt  # noqa: E402,F401  (compat patches and registries)
from mmlt.evaluation import SampleCopyDumpResults  # noqa: E402
from mmlt.utils import (add_launcher_args, build_runner,  # noqa: E402
                        destroy_process_group_on_exit,
                        load_checkpoints_strictly, merge_cfg_options,
                        parse_launcher_args, prepare_launch, set_checkpoint,
                        set_launcher_and_work_dir)


def build_parser() -> argparse.ArgumentParser:
    """The command line: MMPretrain 1.2.0's ``tools/test.py`` arguments."""
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument(
        'checkpoint',
        help='checkpoint file; replaces load_from of the config (a different '
        'load_from in --cfg-options is an error)')
    parser.add_argument(
        '--work-dir', help='the directory to save the evaluation logs')
    parser.add_argument('--out', help='file to write results to')
    parser.add_argument(
        '--out-item',
        choices=['metrics', 'pred'],
        help='write the metrics or the predictions to --out '
        '(defaults to predictions)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='test with automatic mixed precision (`test_cfg.fp16`)')
    parser.add_argument(
        '--show-dir',
        help='directory where the visualised predictions are saved')
    parser.add_argument(
        '--show',
        action='store_true',
        help='display the visualised predictions in a window')
    parser.add_argument(
        '--interval',
        type=int,
        default=1,
        help='visualise every `interval`-th sample (with --show / --show-dir)')
    parser.add_argument(
        '--wait-time',
        type=float,
        default=2,
        help='seconds each --show window is displayed')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='disable the pin_memory option of the dataloader')
    parser.add_argument(
        '--tta',
        action='store_true',
        help='test-time augmentation: `tta_pipeline` and `tta_model` of the '
        'config if present, else horizontal-flip TTA averaging the scores')
    add_launcher_args(parser)
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parse_launcher_args(parser, argv)
    if args.out is None and args.out_item is not None:
        parser.error('--out-item needs --out (the file to write to)')
    if args.interval < 1:
        parser.error(f'--interval must be a positive integer, got '
                     f'{args.interval}')
    return args


def pipeline_dataset_cfg(dataset_cfg: ConfigDict) -> ConfigDict:
    """The config of the test dataset that holds the pipeline.

    That is ``dataset_cfg`` itself, or for a dataset wrapper without a
    pipeline of its own (``LongTailDataset``, ``ClassBalancedDataset``,
    ``RepeatDataset``, ...) the innermost wrapped ``dataset`` that has one.

    Args:
        dataset_cfg (ConfigDict): ``test_dataloader.dataset``.

    Returns:
        ConfigDict: The dataset config with a ``pipeline`` key.
    """
    path = 'test_dataloader.dataset'
    while 'pipeline' not in dataset_cfg:
        inner = dataset_cfg.get('dataset')
        if not isinstance(inner, dict):
            raise ValueError(
                f'--tta needs the test pipeline, but {path} (type='
                f'{dataset_cfg.get("type")!r}) has no `pipeline` and wraps no '
                'single `dataset` config that has one. Set `tta_pipeline` in '
                'the config and give the dataset that loads the images a '
                '`pipeline`.')
        dataset_cfg, path = inner, f'{path}.dataset'
    return dataset_cfg


def merge_args(cfg, args):
    """Merge command line arguments into the config."""
    set_launcher_and_work_dir(cfg, args.config, args.launcher, args.work_dir)
    set_checkpoint(cfg, args.checkpoint, args.cfg_options)

    if args.amp:
        cfg.test_cfg.fp16 = True

    if args.show or args.show_dir is not None:
        visualization = cfg.get('default_hooks', {}).get('visualization')
        if visualization is None:
            raise ValueError(
                '--show and --show-dir need `default_hooks.visualization = '
                'dict(type="VisualizationHook")` in the config.')
        visualization.enable = True
        visualization.show = args.show
        visualization.wait_time = args.wait_time
        visualization.out_dir = args.show_dir
        visualization.interval = args.interval

    if args.tta:
        dataset_cfg = pipeline_dataset_cfg(cfg.test_dataloader.dataset)
        if 'tta_model' not in cfg:
            # also averages `pred_logits`, which mmlt's metrics score
            cfg.tta_model = dict(type='AverageClsLogitsTTA')
        if 'tta_pipeline' not in cfg:
            test_pipeline = dataset_cfg.pipeline
            cfg.tta_pipeline = deepcopy(test_pipeline)
            cfg.tta_pipeline[-1] = dict(
                type='TestTimeAug',
                transforms=[[
                    dict(type='RandomFlip', prob=1.),
                    dict(type='RandomFlip', prob=0.)
                ], [test_pipeline[-1]]])
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        dataset_cfg.pipeline = cfg.tta_pipeline

    merge_cfg_options(cfg, args.cfg_options)

    test_dataloader = cfg.test_dataloader
    test_dataloader.setdefault('pin_memory', get_device() == 'cuda')
    test_dataloader.setdefault('collate_fn', dict(type='default_collate'))
    if args.no_pin_memory:
        test_dataloader.pin_memory = False

    prepare_launch(cfg, args.launcher)
    return cfg


def main():
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    with destroy_process_group_on_exit():
        runner = build_runner(cfg)
        load_checkpoints_strictly(runner, args.config)
        if args.out and args.out_item in ('pred', None):
            runner.test_evaluator.metrics.append(
                SampleCopyDumpResults(out_file_path=args.out))
        metrics = runner.test()
        if args.out and args.out_item == 'metrics' and is_main_process():
            mmengine.dump(metrics, args.out)


if __name__ == '__main__':
    main()
