"""The classifier re-training study on one frozen stage-1 representation.

Caches the neck features of the train / val / test splits of CONFIG through
its test pipeline (reused when already built from the same config and
checkpoint), re-trains the classifier with every ``--methods`` on them (each
method's grid as one batched model), chooses every hyper-parameter on the
validation split, adds GALA's prediction re-balancing on top of each (tau
on val), tests, and writes to ``--work-dir``: ``results.md`` / ``.json``,
the PNG plots and one checkpoint per chosen classifier
(``checkpoints/{method}.pth``, loadable by ``tools/test.py CONFIG``).
Extraction runs distributed like ``tools/test.py`` (``--launcher``); the
re-training runs on rank 0.

Example::

    python tools/analysis/retrain_classifier.py CONFIG STAGE1_CKPT \\
        --methods crt lort --work-dir work_dirs/study
"""
import argparse
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import mmlt  # noqa: E402,F401  (compat patches and registries)
from mmlt.retraining import method_names  # noqa: E402
from mmlt.retraining.tool import parse_grid_option, run_tool  # noqa: E402
from mmlt.utils import add_launcher_args, parse_launcher_args  # noqa: E402


def parse_args(argv=None):
    names = method_names()
    parser = argparse.ArgumentParser(
        description='Re-train the classifier of a stage-1 checkpoint with '
        'every stage-2 method on cached features. Methods: ' +
        ', '.join(names))
    parser.add_argument('config', help='stage-1 config file path')
    parser.add_argument('checkpoint', help='stage-1 checkpoint file')
    parser.add_argument(
        '--methods',
        nargs='+',
        default=names,
        metavar='NAME',
        help=f'methods to run, of: {" ".join(names)} (default: all)')
    parser.add_argument(
        '--grid',
        nargs='+',
        default=[],
        type=parse_grid_option,
        metavar='NAME=V1,V2',
        help='replace the grid of a method, e.g. lort=0.8,0.9 or '
        'mislas=0.3/0.0,0.4/0.1 (pairs eps_head/eps_tail)')
    parser.add_argument(
        '--epochs', type=int, default=20, help='stage-2 epochs (default 20)')
    parser.add_argument(
        '--lr',
        type=float,
        default=5e-4,
        help='learning rate of the methods whose grid is not the learning '
        'rate (default 5e-4)')
    parser.add_argument(
        '--gala-taus',
        type=float,
        nargs='+',
        default=None,
        help='tau grid of GALA re-balancing (default 0.0, 0.1, ..., 2.0)')
    parser.add_argument(
        '--float16',
        action='store_true',
        help='cache the features in float16 (half the disk)')
    parser.add_argument(
        '--work-dir',
        help='output directory (default work_dirs/retrain_{config name})')
    add_launcher_args(parser)
    return parse_launcher_args(parser, argv)


if __name__ == '__main__':
    run_tool(parse_args())
