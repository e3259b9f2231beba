"""Choose the exponent tau of a post-hoc re-balancing on the validation
split.

Runs the checkpoint over ``val_dataloader`` (never the test split: the tool
refuses a config whose validation and test datasets are the same), applies
the re-balancing ``--method`` (a type of ``mmlt/evaluation/rebalancers.py``)
for every tau of the grid, prints the table and the best tau, and optionally
writes them as JSON. The methods:

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

    python tools/analysis/select_tau.py CONFIG CKPT --method TauNormalization \\
        --out tau.json
"""
import argparse
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmengine  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402
from mmengine.model import is_model_wrapper  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmlt  # noqa: E402,F401  (compat patches and registries)
from mmlt.evaluation.rebalancing import collect_logits, tau_sweep  # noqa
from mmlt.registry import REBALANCERS  # noqa: E402
from mmlt.utils import (add_launcher_args, build_runner,  # noqa: E402
                        destroy_process_group_on_exit, load_checkpoint_config,
                        parse_launcher_args, prepare_launch)

DEFAULT_TAUS = [round(0.1 * i, 1) for i in range(21)]  # 0.0, 0.1, ..., 2.0
COLUMNS = ('top1', 'mean_class_acc', 'many', 'medium', 'few', 'ece')


def parse_args():
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
    parser.add_argument(
        '--taus',
        type=float,
        nargs='+',
        default=DEFAULT_TAUS,
        help='the tau grid (default 0.0, 0.1, ..., 2.0)')
    parser.add_argument(
        '--metric',
        choices=['top1', 'mean_class_acc'],
        default='mean_class_acc',
        help='the figure to maximise (ties go to the smaller tau)')
    parser.add_argument('--out', help='write the table and choice as JSON')
    parser.add_argument('--work-dir', help='the directory to save the logs')
    add_launcher_args(parser)
    args = parse_launcher_args(parser)
    if min(args.taus) < 0:
        parser.error(f'--taus must be non-negative, got {args.taus}')
    args.taus = sorted(set(args.taus))
    return args


def check_validation_split(cfg: Config, config_path: str) -> None:
    """Refuse configs that would select tau on the test split."""
    if cfg.get('val_dataloader') is None:
        raise ValueError(f'{config_path} has no val_dataloader to choose '
                         'tau on.')
    test_dataloader = cfg.get('test_dataloader')
    if (test_dataloader is not None
            and cfg.val_dataloader.dataset == test_dataloader.dataset):
        raise ValueError(
            f'In {config_path} val_dataloader and test_dataloader use the '
            'same dataset; tau must be chosen on a held-out validation split, '
            'never on the test split. Point val_dataloader.dataset at a '
            'validation split (e.g. split="val").')


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


def classifier(model: torch.nn.Module):
    """Weight and bias of ``model.head.fc``, the classifier that
    ``--method TauNormalization`` normalises."""
    if is_model_wrapper(model):
        model = model.module
    fc = getattr(getattr(model, 'head', None), 'fc', None)
    if not isinstance(fc, torch.nn.Linear):
        raise TypeError(
            '--method TauNormalization needs a linear classifier at model.head.fc '
            f'(e.g. RebalancedLinearClsHead), got {type(fc).__name__}.')
    return fc.weight.detach().cpu(), (None if fc.bias is None else
                                      fc.bias.detach().cpu())


def usage_hint(method: str) -> str:
    """How to apply the chosen tau."""
    if method == 'PredictionRebalancing':
        return ('set the tau of the config\'s rebalance dict (head and '
                'RebalancedAccuracy) to it.')
    return (f'set model.head.rebalance=dict(type={method!r}, tau=TAU) and '
            'evaluate with test_evaluator.rebalance=None.')


def format_table(rows) -> str:
    header = ['tau', *COLUMNS]
    lines = [' | '.join(f'{h:>14}' for h in header)]
    for row in rows:
        lines.append(' | '.join(f'{row.get(c, float("nan")):>14.4f}'
                                for c in header))
    return '\n'.join(lines)


def main():
    args = parse_args()
    cfg = load_checkpoint_config(args)
    check_validation_split(cfg, args.config)
    prepare_launch(cfg, args.launcher)
    with destroy_process_group_on_exit():
        runner = build_runner(cfg)
        runner.load_or_resume()
        dataloader = Runner.build_dataloader(
            cfg.val_dataloader, seed=runner.seed)
        collected = collect_logits(runner.model, dataloader)
        if not is_main_process():
            return
        logits, labels = collected
        counts = dataloader.dataset.metainfo.get('train_class_counts')
        if counts is None:
            raise ValueError(
                'The validation dataset has no `train_class_counts` in its '
                'metainfo (needed for the many/medium/few groups and the '
                'prior of logit adjustment); use an mmlt long-tailed '
                'dataset.')
        weight, bias = (None, None)
        if args.method == 'TauNormalization':
            weight, bias = classifier(runner.model)
        rows = tau_sweep(logits, labels, args.taus, counts, args.method,
                         weight, bias, **shot_thresholds(cfg))
        scores = np.array([row[args.metric] for row in rows])
        best = rows[int(np.argmax(scores))]  # first maximum: smallest tau
        runner.logger.info(
            f'Re-balancing ({args.method}) on the validation split '
            f'({len(labels)} samples):\n{format_table(rows)}\nBest tau by '
            f'{args.metric}: {best["tau"]} ({best[args.metric]:.4f}); '
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
