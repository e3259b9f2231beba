"""Estimate the column masses of GALA's prediction re-balancing on one split
and store them in a copy of the checkpoint.

With :math:`p = \\mathrm{softmax}(z)` of the plain logits, the column mass of
class j is :math:`m_j = \\sum_i p_{ij}` over the split. The output checkpoint
has them in ``RebalancedLinearClsHead``'s buffers, so every later prediction
(``tools/test.py``, ``mmpretrain.apis`` inferencers) is re-balanced with the
head's ``tau``. Runs distributed like ``tools/test.py`` (``--launcher``).

Example::

    python tools/analysis/estimate_column_mass.py CONFIG CKPT --split val \\
        --out CKPT_rebalanced.pth
"""
import argparse
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402
from mmengine.runner import CheckpointLoader  # noqa: E402

import mmlt  # noqa: E402,F401  (compat patches and registries)
from mmlt.experiments import (build_split_loader, collect_split,  # noqa
                              find_head, load_runner)
from mmlt.models.heads import RebalancedLinearClsHead  # noqa: E402
from mmlt.evaluation.rebalancers import (  # noqa: E402
    PredictionRebalancing, column_mass)
from mmlt.utils import (add_launcher_args,  # noqa: E402
                        destroy_process_group_on_exit, load_checkpoint_config,
                        parse_launcher_args, setup_cpu_distributed)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Estimate re-balancing column masses on a split and '
        'store them in the checkpoint')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--split',
        choices=['val', 'test'],
        default='val',
        help='the dataloader of the config to estimate on: val_dataloader '
        'or test_dataloader (test only to reproduce transductive figures)')
    parser.add_argument(
        '--out', required=True, help='path of the output checkpoint')
    parser.add_argument('--work-dir', help='the directory to save the logs')
    add_launcher_args(parser)
    return parse_launcher_args(parser)


def main():
    args = parse_args()
    cfg = load_checkpoint_config(args)
    dataloader_cfg = cfg.get(f'{args.split}_dataloader')
    if dataloader_cfg is None:
        raise ValueError(f'{args.config} has no {args.split}_dataloader.')
    setup_cpu_distributed(cfg, args.launcher)
    with destroy_process_group_on_exit():
        runner = load_runner(cfg, args.checkpoint)
        head, prefix = find_head(
            runner.model, RebalancedLinearClsHead,
            'Store column masses in a RebalancedLinearClsHead: set '
            'model.head.type=RebalancedLinearClsHead (e.g. with '
            '--cfg-options).')
        if not isinstance(head.rebalancer, PredictionRebalancing):
            raise ValueError(
                "Column masses are used only by GALA's prediction "
                "re-balancing (model.head.rebalance.type="
                "'PredictionRebalancing'); the head uses "
                f'{head.rebalancer!r}.')
        record = collect_split(
            runner.model, build_split_loader(cfg, args.split,
                                             seed=runner.seed), args.split)
        if not is_main_process():
            return
        logits = record.logits
        mass = column_mass(torch.softmax(logits.to(torch.float64), dim=1))
        head.set_column_mass(mass, len(logits))

        checkpoint = CheckpointLoader.load_checkpoint(
            args.checkpoint, map_location='cpu')
        state_dict = checkpoint.get('state_dict', checkpoint)
        state_dict[f'{prefix}column_mass'] = head.column_mass.cpu().clone()
        state_dict[f'{prefix}column_mass_samples'] = \
            head.column_mass_samples.cpu().clone()
        if isinstance(checkpoint.get('meta'), dict):
            checkpoint['meta']['column_mass_split'] = args.split
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        torch.save(checkpoint, args.out)
        runner.logger.info(
            f'Column masses over {len(logits)} {args.split} samples (min '
            f'{mass.min():.4g}, max {mass.max():.4g}) written to {args.out}; '
            f'predictions from it are re-balanced by {head.rebalancer!r}.')


if __name__ == '__main__':
    main()
