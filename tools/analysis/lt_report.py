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
import os.path as osp
from typing import List, Optional, Sequence

from mmlt.evaluation.shot_groups import LOW_SHOT_THR, MANY_SHOT_THR
from mmlt.experiments import read_test_dump
from mmlt.report import (LongTailReport, read_tau_sweep,
                         read_training_scalars)
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


def default_names(paths: Sequence[str]) -> List[str]:
    """File names without extension, or the paths if those repeat."""
    stems = [osp.splitext(osp.basename(p))[0] for p in paths]
    return stems if len(set(stems)) == len(stems) else list(paths)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    if args.config is not None:
        counts, classes = training_class_counts(args.config)
        source = f'the training dataset of {args.config}'
    else:
        counts, classes, source = args.class_counts, None, '--class-counts'
    report = LongTailReport(
        counts,
        classes,
        args.many_shot_thr,
        args.low_shot_thr,
        counts_source=source)
    names = args.names or default_names(args.results)
    for name, path in zip(names, args.results):
        dump = read_test_dump(path)
        report.add_result(
            name,
            dump['scores'],
            dump['labels'],
            dump.get('logits'),
            source=path)
        del dump
    for work_dir in args.work_dir:
        report.add_training(
            osp.basename(osp.normpath(work_dir)),
            read_training_scalars(work_dir))
    for path in args.tau_sweep:
        report.add_tau_sweep(
            osp.splitext(osp.basename(path))[0], read_tau_sweep(path))
    page = report.write(args.out)
    print(f'Wrote {page}')
    return page


if __name__ == '__main__':
    main()
