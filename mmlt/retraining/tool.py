"""What ``tools/analysis/retrain_classifier.py`` does: cache -> re-train ->
choose on val -> test -> table, plots, checkpoints."""
import argparse
import os.path as osp
from typing import Dict, List, Tuple

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.logging import print_log

from mmlt.experiments import DEFAULT_TAUS, check_held_out
from mmlt.utils import (default_work_dir, destroy_process_group_on_exit,
                        load_checkpoint_config, prepare_launch)
from .feature_cache import build_feature_cache
from .methods import RetrainingMethod, build_method
from .report import (study_table, write_classifier_checkpoint, write_plots,
                     write_tables)
from .study import run_study
from .trainer import RetrainingSchedule


def parse_grid_option(text: str) -> Tuple[str, List]:
    """``'lort=0.8,0.9'`` -> ``('lort', [0.8, 0.9])``; a value ``a/b`` is
    the pair ``(a, b)`` (MiSLAS's eps_head / eps_tail)."""
    name, sep, values = text.partition('=')
    if not sep or not name:
        raise argparse.ArgumentTypeError(
            f'--grid expects NAME=V1,V2,..., got {text!r}.')
    try:
        grid = [
            tuple(float(x) for x in v.split('/')) if '/' in v else float(v)
            for v in values.split(',') if v
        ]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'--grid {text!r}: the values must be numbers (or a/b pairs).')
    return name, grid


def build_methods(
        names: List[str],
        grids: List[Tuple[str, List]]) -> Dict[str, RetrainingMethod]:
    """The methods ``names`` (unknown ones refused, listing the known),
    with the ``--grid`` replacements."""
    grids = dict(grids)
    unused = set(grids) - set(names)
    if unused:
        raise ValueError(f'--grid names {sorted(unused)}, which are not in '
                         f'--methods {names}.')
    return {name: build_method(name, grids.get(name)) for name in names}


def shot_thresholds(cfg: Config) -> Dict[str, int]:
    """``many_shot_thr`` / ``low_shot_thr`` of the test evaluator (a dict,
    or the first metric of a list), where it sets them."""
    evaluator = cfg.get('test_evaluator')
    if isinstance(evaluator, (list, tuple)):
        evaluator = evaluator[0] if evaluator else None
    if not isinstance(evaluator, dict):
        return {}
    return {
        k: evaluator[k]
        for k in ('many_shot_thr', 'low_shot_thr') if k in evaluator
    }


def run_tool(args: argparse.Namespace) -> None:
    """Run the study from the parsed command line of the tool."""
    # Methods and grids are checked before any extraction.
    methods = build_methods(args.methods, args.grid)
    if args.work_dir is None:
        args.work_dir = default_work_dir(args.config, 'retrain_')
    cfg = load_checkpoint_config(args)
    check_held_out(
        cfg.get('val_dataloader', {}).get('dataset'),
        cfg.get('test_dataloader', {}).get('dataset'), args.config)
    schedule = RetrainingSchedule(
        epochs=args.epochs,
        lr=args.lr,
        batch_size=cfg.train_dataloader.batch_size,
        seed=cfg.get('randomness', {}).get('seed') or 0)
    prepare_launch(cfg, args.launcher)
    with destroy_process_group_on_exit():
        cache = build_feature_cache(
            cfg,
            args.checkpoint,
            osp.join(args.work_dir, 'feature_cache'),
            dtype='float16' if args.float16 else 'float32',
            config_path=args.config)
        if not is_main_process():
            return
        thresholds = shot_thresholds(cfg)
        results = run_study(
            methods,
            cache,
            schedule,
            gala_taus=args.gala_taus or DEFAULT_TAUS,
            **thresholds)
        for result in results:
            write_classifier_checkpoint(
                args.checkpoint,
                result['weight'],
                result['bias'],
                osp.join(args.work_dir, 'checkpoints',
                         f'{result["method"]}.pth'),
                meta=dict(
                    method=result['method'],
                    grid_key=result['grid_key'],
                    chosen=result['chosen']))
        info = dict(
            config=args.config,
            checkpoint=args.checkpoint,
            schedule=vars(schedule),
            sizes=cache.meta['sizes'],
            train_class_counts=cache.train_class_counts.tolist(),
            **thresholds)
        rows = write_tables(results, args.work_dir, info)
        write_plots(results, cache.train_class_counts, args.work_dir)
        print_log(
            'Classifier re-training study (test split; every value chosen '
            f'on val):\n{study_table(rows)}Written to {args.work_dir}.',
            logger='current')
