"""Choose the exponent tau of a post-hoc re-balancing on the validation
split.

Runs the checkpoint over ``val_dataloader`` (refused when any validation
sample is a test sample, see :func:`mmlt.experiments.check_held_out`),
applies the re-balancing ``--method`` (a type of
``mmlt/evaluation/rebalancers.py``) for every tau of the grid, prints the
table and the chosen tau (the highest ``--metric``, the smallest tau on
ties), and optionally writes them as JSON.
The methods:

- ``PredictionRebalancing`` (default): GALA's transductive re-balancing
  :math:`\\hat p_{ij} \\propto p_{ij} / m_j^{\\tau}` with the validation
  column masses;
- ``PosthocLogitAdjustment``: :math:`z_j - \\tau \\log \\pi_j`, prior from
  the ``train_class_counts`` (TRAIN split) in the validation dataset's
  metainfo;
- ``TauNormalization``: the classifier ``model.head.fc`` with weights
  :math:`w_j / \\lVert w_j \\rVert^{\\tau}` and no bias.

Runs distributed like ``tools/test.py`` (``--launcher``).

Example::

    python tools/analysis/select_tau.py CONFIG CKPT \\
        --method TauNormalization \\
        --out tau.json
"""
import argparse
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:  # launch shim: mmlt without installing it
    sys.path.insert(0, REPO_ROOT)

import mmengine  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402

import mmlt  # noqa: E402,F401  (compat patches and registries)
from mmlt.experiments import (METRIC_KEYS,  # noqa: E402
                              add_metric_argument, add_tau_argument,
                              build_split_loader, check_held_out,
                              choose_on_val, collect_split, find_head,
                              load_runner, markdown_table, tau_table)
from mmlt.registry import REBALANCERS  # noqa: E402
from mmlt.utils import (add_launcher_args,  # noqa: E402
                        destroy_process_group_on_exit, load_checkpoint_config,
                        parse_launcher_args, setup_cpu_distributed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Choose the re-balancing tau on the validation split')
    parser.add_argument(
        '--method',
        choices=sorted(REBALANCERS.module_dict),
        default='PredictionRebalancing',
        help='the re-balancing to tune (default PredictionRebalancing: '
        'GALA, transductive)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    add_tau_argument(parser)  # checked before any validation pass
    add_metric_argument(parser, 'tau')
    parser.add_argument('--out', help='write the table and choice as JSON')
    parser.add_argument('--work-dir', help='the directory to save the logs')
    add_launcher_args(parser)
    return parse_launcher_args(parser, argv)


def shot_thresholds(cfg: Config) -> dict:
    """``many_shot_thr`` / ``low_shot_thr`` of the config's
    ``val_evaluator`` (a single metric dict), if it sets them."""
    evaluator = cfg.get('val_evaluator')
    if not isinstance(evaluator, dict):
        return {}
    return {
        key: evaluator[key]
        for key in ('many_shot_thr', 'low_shot_thr') if key in evaluator
    }


def classifier(model: torch.nn.Module) -> dict:
    """``weight`` and ``bias`` of ``model.head.fc``, the classifier that
    ``--method TauNormalization`` normalises."""
    fc = getattr(find_head(model)[0], 'fc', None)
    if not isinstance(fc, torch.nn.Linear):
        raise TypeError(
            '--method TauNormalization needs a linear classifier at '
            'model.head.fc '
            f'(e.g. RebalancedLinearClsHead), got {type(fc).__name__}.')
    return dict(
        weight=fc.weight.detach().cpu(),
        bias=None if fc.bias is None else fc.bias.detach().cpu())


def usage_hint(method: str) -> str:
    """How to apply the chosen tau."""
    if method == 'PredictionRebalancing':
        return ('set the tau of the config\'s rebalance dict (head and '
                'RebalancedAccuracy) to it.')
    return (f'set model.head.rebalance=dict(type={method!r}, tau=TAU) and '
            'evaluate with test_evaluator.rebalance=None.')


def main(argv=None):
    args = parse_args(argv)
    cfg = load_checkpoint_config(args)
    check_held_out((cfg.get('val_dataloader') or {}).get('dataset'),
                   (cfg.get('test_dataloader') or {}).get('dataset'),
                   args.config)
    setup_cpu_distributed(cfg, args.launcher)
    with destroy_process_group_on_exit():
        runner = load_runner(cfg, args.checkpoint)
        loader = build_split_loader(cfg, 'val', seed=runner.seed)
        record = collect_split(runner.model, loader, 'val')
        if not is_main_process():
            return
        kwargs = shot_thresholds(cfg)
        if args.method == 'TauNormalization':
            kwargs.update(classifier(runner.model))
        rows = tau_table(record, args.method, args.taus, **kwargs)
        best = choose_on_val(rows, 'tau', args.metric)
        table = markdown_table(
            ('tau', ) + METRIC_KEYS,
            [[f'{row["tau"]:g}'] + [f'{row[key]:.4f}' for key in METRIC_KEYS]
             for row in rows])
        runner.logger.info(
            f'Re-balancing ({args.method}) on the validation split '
            f'({len(record)} samples):\n{table}\nBest tau by {args.metric}: '
            f'{best["tau"]} ({best[args.metric]:.4f}); '
            f'{usage_hint(args.method)}')
        if args.out:
            mmengine.dump(
                dict(
                    method=args.method,
                    metric=args.metric,
                    best_tau=best['tau'],
                    table=rows), args.out)


if __name__ == '__main__':
    main()
