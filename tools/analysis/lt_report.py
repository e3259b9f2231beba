"""Write the long-tail report of one or more ``tools/test.py --out`` dumps:
``DIR/report.html`` (self-contained), ``DIR/report.json`` and the figures as
PNG files. See docs/long_tail_report.md.

Training class counts and class names come from ``--config`` (its training
dataset) or ``--class-counts``; ``--work-dir`` adds the loss and GALA
gradient-ratio curves of a training run, ``--tau-sweep`` the validation
curve of ``tools/analysis/select_tau.py --out``.

Example::

    python tools/analysis/lt_report.py ce.pkl gala.pkl --names CE GALA \\
        --config configs/demo/gala_smallconvnet_fashion-mnist-lt.py \\
        --work-dir work_dirs/gala --tau-sweep work_dirs/gala/tau.json \\
        --out report
"""
import argparse
from typing import Optional, Sequence

from mmlt.evaluation.shot_groups import LOW_SHOT_THR, MANY_SHOT_THR
from mmlt.report import report_from_files
from mmlt.report.training_logs import training_class_counts


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Long-tail report of tools/test.py --out dumps')
    parser.add_argument(
        'results',
        nargs='+',
        metavar='RESULT',
        help='tools/test.py --out '
        'files (pred_score, gt_label, and pred_logits where kept)')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument(
        '--names',
        nargs='+',
        help='one name per RESULT (default: file '
        'names)')
    counts = parser.add_mutually_exclusive_group(required=True)
    counts.add_argument(
        '--config',
        help='config whose training dataset gives the class '
        'counts and names')
    counts.add_argument(
        '--class-counts', help='training images per class, N,N,...')
    parser.add_argument(
        '--work-dir',
        nargs='+',
        default=[],
        help='training work dirs: '
        'loss and GALA ratios from their vis_data/scalars.json')
    parser.add_argument(
        '--tau-sweep',
        nargs='+',
        default=[],
        help='JSON files of '
        'tools/analysis/select_tau.py --out')
    parser.add_argument(
        '--many-shot-thr',
        type=int,
        default=MANY_SHOT_THR,
        help=f'many-shot: more training images (default {MANY_SHOT_THR})')
    parser.add_argument(
        '--low-shot-thr',
        type=int,
        default=LOW_SHOT_THR,
        help=f'few-shot: fewer training images (default {LOW_SHOT_THR})')
    args = parser.parse_args(argv)
    if args.names is not None and len(args.names) != len(args.results):
        parser.error(f'--names has {len(args.names)} names for '
                     f'{len(args.results)} RESULT files; give one per file.')
    if args.class_counts is not None:
        try:
            args.class_counts = [int(n) for n in args.class_counts.split(',')]
        except ValueError:
            parser.error('--class-counts must be comma-separated integers, '
                         f'got {args.class_counts!r}.')
    return args


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    if args.config is not None:
        counts, classes = training_class_counts(args.config)
        source = f'the training dataset of {args.config}'
    else:
        counts, classes, source = args.class_counts, None, '--class-counts'
    page = report_from_files(
        args.out,
        args.results,
        counts,
        names=args.names,
        classes=classes,
        work_dirs=args.work_dir,
        tau_sweeps=args.tau_sweep,
        many_shot_thr=args.many_shot_thr,
        low_shot_thr=args.low_shot_thr,
        counts_source=source)
    print(f'Wrote {page}')
    return page


if __name__ == '__main__':
    main()
