"""Choose LORT's smoothing strength eps on the validation split.

For every eps of the grid, trains the stage-2 config (classifier re-training
from the stage-1 checkpoint), then scores each trained model on
``val_dataloader`` (refused when any validation sample is a test sample, see
:func:`mmlt.experiments.check_held_out`) and keeps the eps of the highest
``--metric`` (the smallest eps on ties): the steps of
:mod:`mmlt.experiments` (``train_candidates``, ``choose_candidate``). Prints
the table and the best eps, and optionally writes them as JSON. The grid is
given either as eps values or as target ratios r (true-class target over
any other class's target, ``eps = K / (K + r - 1)`` for K classes), which
compare across data sets with different numbers of classes.

Example::

    python tools/analysis/sweep_eps.py \\
        configs/lort/lort-stage2_resnext50_imagenet-lt.py \\
        --load-from work_dirs/stage1/epoch_100.pth \\
        --ratios 1.5 2 3 5 10 --out work_dirs/eps_sweep.json
"""
import argparse
import copy
import os.path as osp
import sys
import time
from typing import List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from mmengine.config import Config  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402

import mmlt  # noqa: E402,F401  (compat patches and registries)
from mmlt.experiments import (add_metric_argument,  # noqa: E402
                              build_split_loader, check_held_out,
                              choose_candidate, collect_split, load_runner,
                              markdown_table, sorted_grid, train,
                              train_candidates, write_json)
from mmlt.models.losses import (lort_eps_from_ratio,  # noqa: E402
                                lort_target_ratio)
from mmlt.utils import (add_launcher_args, default_work_dir,  # noqa: E402
                        destroy_process_group_on_exit, merge_cfg_options,
                        parse_launcher_args, prepare_launch, set_checkpoint)



def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(
        description='Choose the LORT eps on the validation split')
    parser.add_argument('config', help='stage-2 config file path')
    parser.add_argument(
        '--load-from',
        required=True,
        help='the stage-1 checkpoint (a different load_from in --cfg-options '
        'is an error)')
    grid = parser.add_mutually_exclusive_group(required=True)
    grid.add_argument('--eps', type=float, nargs='+', help='eps values')
    grid.add_argument(
        '--ratios',
        type=float,
        nargs='+',
        help='target ratios r > 1, turned into eps = K / (K + r - 1)')
    add_metric_argument(parser, 'eps')
    parser.add_argument('--out', help='write the table and choice as JSON')
    parser.add_argument(
        '--work-dir', help='directory of the runs (one sub-directory per eps)')
    add_launcher_args(parser)
    args = parse_launcher_args(parser, argv)
    if args.eps is not None and not all(0 <= e < 1 for e in args.eps):
        parser.error(f'--eps values must be in [0, 1), got {args.eps}')
    if args.ratios is not None and not all(r > 1 for r in args.ratios):
        parser.error(f'--ratios must be > 1, got {args.ratios}')
    return args


def eps_grid(cfg: Config, eps: Optional[List[float]],
             ratios: Optional[List[float]]) -> List[float]:
    """The sorted eps values; ratios are converted with the head's number
    of classes."""
    if eps is None:
        num_classes = cfg.model.head.num_classes
        eps = [lort_eps_from_ratio(r, num_classes) for r in ratios]
    return sorted_grid(eps, 'eps')


def stage2_config(cfg: Config, eps: float, load_from: str,
                  work_dir: str) -> Config:
    """A copy of ``cfg`` that re-trains with ``eps`` from ``load_from``."""
    loss = cfg.model.head.get('loss', {})
    if loss.get('type') not in ('LORTLoss', 'mmpretrain.LORTLoss'):
        raise ValueError('The config must train the head with LORTLoss, got '
                         f'model.head.loss={loss!r}.')
    run_cfg = copy.deepcopy(cfg)
    run_cfg.model.head.loss.eps = eps
    run_cfg.load_from = load_from
    run_cfg.resume = False
    run_cfg.work_dir = osp.join(work_dir, f'eps_{eps:.6g}')
    return run_cfg


def sweep(cfg: Config, eps_values: List[float], load_from: str, work_dir: str,
          metric: str) -> Optional[dict]:
    """Train stage 2 for every eps, then choose eps on the validation split
    (:func:`choose_candidate`); return the table and the best eps on rank
    0, None on the other ranks."""
    stamp = time.strftime('%Y%m%d_%H%M%S')
    candidates = train_candidates(
        eps_values, lambda eps: stage2_config(cfg, eps, load_from, work_dir),
        lambda run_cfg, eps: train(run_cfg, f'eps_{eps:.6g}_{stamp}'))
    records = {}
    for candidate in candidates:  # every rank takes part in each collection
        runner = load_runner(candidate.cfg, candidate.checkpoint,
                             f'eps_{candidate.value:.6g}_{stamp}_val')
        records[id(candidate)] = collect_split(
            runner.model,
            build_split_loader(candidate.cfg, 'val', seed=runner.seed), 'val')
    if not is_main_process():
        return None
    best, choice = choose_candidate(candidates, lambda c: records[id(c)],
                                    'eps', metric)
    num_classes = cfg.model.head.num_classes

    def ratio(eps: float) -> Optional[float]:
        return lort_target_ratio(eps, num_classes) if eps > 0 else None

    table = [
        dict(eps=row['value'], target_ratio=ratio(row['value']),
             **{k: v for k, v in row.items() if k != 'value'})
        for row in choice['validation']
    ]
    return dict(
        metric=metric,
        rule=choice['rule'],
        num_val=len(records[id(best)]),
        best_eps=best.value,
        best_target_ratio=ratio(best.value),
        table=table)


def format_table(result: dict) -> str:
    metric = result['metric']
    return markdown_table(('eps', 'target ratio', metric), [[
        f'{row["eps"]:.6g}', '-' if row['target_ratio'] is None else
        f'{row["target_ratio"]:.4f}', f'{row[metric]:.4f}'
    ] for row in result['table']])


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    merge_cfg_options(cfg, args.cfg_options)
    set_checkpoint(cfg, args.load_from, args.cfg_options)
    check_held_out((cfg.get('val_dataloader') or {}).get('dataset'),
                   (cfg.get('test_dataloader') or {}).get('dataset'),
                   args.config)
    prepare_launch(cfg, args.launcher)
    work_dir = args.work_dir or default_work_dir(args.config, 'eps_sweep_')
    with destroy_process_group_on_exit():
        result = sweep(cfg, eps_grid(cfg, args.eps, args.ratios),
                       args.load_from, work_dir, args.metric)
        if result is not None:
            print(f'LORT eps sweep on the validation split '
                  f'({result["num_val"]} images):\n'
                  f'{format_table(result)}\n'
                  f'Best eps by {args.metric}: {result["best_eps"]:.6g}; '
                  'set model.head.loss.eps to it.')
            if args.out:
                write_json(args.out, result)
    return result


if __name__ == '__main__':
    main()
