"""Time and peak memory of ``tools/analysis/lt_report.py`` at iNaturalist
scale: one ``tools/test.py --out`` dump of 24,426 x 8,142 scores (iNat 2018
validation x classes), without and with ``pred_logits``.

The dump is written as MMPretrain's ``DumpResults`` writes it:
``mmengine.dump`` (pickle protocol 2, with a memo) of the per-sample dicts
of tensors (``dump_samples``), from seeded random logits, in a child process
(``--write-dump``); training counts follow an exponential profile from 1,000
to 2 images (iNat 2018's range). A second child writes the same dump as
mmlt's ``tools/test.py --out`` does (``dump_without_memo``), measured and
deleted. For each dump two more children run: one that only reads it
(``read_test_dump``) and the report itself. Each child's elapsed and CPU
seconds (user + system) and peak resident memory come from ``wait4``; the
memory is compared with the bytes of the scores and of the arrays read
(scores, and logits where dumped), after subtracting the peak of a child
that only imports the report's modules. On Linux a child's ``ru_maxrss`` is
at least its parent's peak (the memory it was forked from), which is why
this process writes no dump itself; its own peak is recorded as that floor.
The 1-minute load average before and after each child is recorded: on a
shared machine the elapsed seconds grow with the load, the CPU seconds much
less.

Run it on an idle machine::

    OMP_NUM_THREADS=2 nice python benchmarks/lt_report_scale.py \\
        --out benchmarks/results/lt_report_scale.json
"""
import argparse
import json
import os
import os.path as osp
import tempfile
from typing import Dict, Optional, Sequence

import mmengine
import numpy as np
import torch

from mmlt.datasets.long_tail_profile import long_tail_class_counts
from mmlt.evaluation.metrics.sample_copy_dump import dump_without_memo
from mmlt.experiments import dump_samples, machine_info, markdown_table
from mmlt.experiments.timing import proc_status_kib, run_child

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
WRITERS = ('mmengine.dump', 'dump_without_memo')
IMPORTS_ONLY = ('import matplotlib.figure, mmlt.report; '
                'from mmlt.report.training_logs import training_class_counts')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--num-samples', type=int, default=24426)
    parser.add_argument('--num-classes', type=int, default=8142)
    parser.add_argument('--out', help='JSON file to write')
    parser.add_argument(
        '--tmp-dir', help='where the dumps go (default: a temporary dir)')
    parser.add_argument(
        '--write-dump',
        metavar='PATH',
        help='only write the dump of '
        '--num-samples x --num-classes (what the child that writes it runs)')
    parser.add_argument(
        '--with-logits', action='store_true', help='with --write-dump')
    parser.add_argument(
        '--writer',
        choices=WRITERS,
        default=WRITERS[0],
        help='with --write-dump: mmengine.dump (stock DumpResults) or '
        "dump_without_memo (mmlt's tools/test.py --out)")
    return parser.parse_args(argv)


def write_dump(path: str,
               num_samples: int,
               num_classes: int,
               with_logits: bool,
               writer: str = WRITERS[0]) -> None:
    """A ``tools/test.py --out`` file of seeded random predictions, labels
    ``i % C`` (3 test images per class at iNat scale), written by
    ``writer``: ``mmengine.dump`` as MMPretrain's ``DumpResults`` does, or
    ``dump_without_memo`` as mmlt's ``tools/test.py --out`` does."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(num_samples) % num_classes
    scores = np.empty((num_samples, num_classes), dtype=np.float32)
    logits = scores.copy() if with_logits else None
    for start in range(0, num_samples, 1024):
        rows = slice(start, min(start + 1024, num_samples))
        chunk = 2 * torch.randn(rows.stop - start, num_classes, generator=g)
        chunk[torch.arange(chunk.size(0)), labels[rows]] += 6
        scores[rows] = torch.softmax(chunk, dim=1).numpy()
        if with_logits:
            logits[rows] = chunk.numpy()
    samples = dump_samples(scores, labels.numpy(), logits)
    if writer == 'mmengine.dump':
        mmengine.dump(samples, path)
    else:
        dump_without_memo(samples, path)


def measure(args: Sequence[str], baseline: int, scores_bytes: int,
            arrays_bytes: int) -> Dict[str, float]:
    """:func:`run_child` of ``python ARGS`` in the repository, its memory
    above ``baseline`` (bytes) against the scores and the arrays read, and
    the load average around it."""
    load_before = os.getloadavg()[0]
    measured = run_child(args, REPO_ROOT)
    extra = measured['peak_rss_bytes'] - baseline
    return dict(
        **measured,
        extra_rss_bytes=extra,
        extra_rss_over_scores=extra / scores_bytes,
        extra_rss_over_arrays=extra / arrays_bytes,
        load_average=[load_before, os.getloadavg()[0]])


def markdown(report: Dict) -> str:
    """The table of :func:`main`'s report."""
    gib = 2.0**30
    rows = []
    for row in report['rows']:
        for step, child in (('write', 'mmengine.dump'),
                            ('write_without_memo', 'dump_without_memo'),
                            ('read', 'read_test_dump'),
                            ('report', 'lt_report.py')):
            m = row[step]
            rows.append([
                row['dump'], f'{row["dump_bytes"] / gib:.2f}', child,
                f'{m["seconds"]:.1f}', f'{m["cpu_seconds"]:.1f}',
                f'{m["peak_rss_bytes"] / gib:.2f}',
                f'{m["extra_rss_over_scores"]:.2f}x',
                f'{m["extra_rss_over_arrays"]:.2f}x',
                '{:.1f} / {:.1f}'.format(*m['load_average'])
            ])
    return markdown_table([
        'Dump', 'File GiB', 'Child', 'Wall s', 'CPU s', 'Peak RSS GiB',
        'Extra RSS / scores', 'Extra RSS / arrays read', 'Load before / after'
    ], rows, [False, True, False] + [True] * 6)


def main(argv: Optional[Sequence[str]] = None) -> Optional[Dict]:
    args = parse_args(argv)
    n, c = args.num_samples, args.num_classes
    if args.write_dump:
        write_dump(args.write_dump, n, c, args.with_logits, args.writer)
        return None
    counts = long_tail_class_counts(c, 1000, 500)
    scores_bytes = n * c * 4
    baseline = run_child(['-c', IMPORTS_ONLY], REPO_ROOT)['peak_rss_bytes']
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as tmp:
        for with_logits in (False, True):
            dump = osp.join(tmp, f'dump_logits{int(with_logits)}.pkl')
            arrays_bytes = scores_bytes * (2 if with_logits else 1)
            # in a child: a child's ru_maxrss is at least this process's
            # peak, which writing the dump here would raise
            no_memo = dump + '.no_memo'
            writes = {}
            for writer, path in zip(WRITERS, (dump, no_memo)):
                writes[writer] = measure([
                    'benchmarks/lt_report_scale.py', '--write-dump', path,
                    '--num-samples',
                    str(n), '--num-classes',
                    str(c), '--writer', writer
                ] + ['--with-logits'] * with_logits, baseline, scores_bytes,
                                         arrays_bytes)
            no_memo_bytes = osp.getsize(no_memo)
            os.remove(no_memo)
            read = measure([
                '-c', f'{IMPORTS_ONLY}; from mmlt.experiments import '
                f'read_test_dump; read_test_dump({dump!r})'
            ], baseline, scores_bytes, arrays_bytes)
            full = measure([
                'tools/analysis/lt_report.py', dump, '--class-counts',
                ','.join(map(str, counts)), '--out',
                osp.join(tmp, f'report{int(with_logits)}')
            ], baseline, scores_bytes, arrays_bytes)
            rows.append(
                dict(
                    dump='scores + logits' if with_logits else 'scores',
                    dump_bytes=osp.getsize(dump),
                    dump_without_memo_bytes=no_memo_bytes,
                    arrays_bytes=arrays_bytes,
                    write=writes['mmengine.dump'],
                    write_without_memo=writes['dump_without_memo'],
                    read=read,
                    report=full))
            os.remove(dump)
    report = dict(
        num_samples=n,
        num_classes=c,
        scores_bytes=scores_bytes,
        imports_peak_rss_bytes=baseline,
        parent_peak_rss_bytes=1024 * proc_status_kib('VmHWM'),
        rows=rows,
        machine=machine_info(torch.get_num_threads(), ['cpu']))
    gib = 2.0**30
    print(f'lt_report.py on {n} x {c} scores ({scores_bytes / gib:.2f} GiB '
          f'float32); imports alone peak at {baseline / gib:.2f} GiB, this '
          f'process (a floor of the children\'s peaks) at '
          f'{report["parent_peak_rss_bytes"] / gib:.2f} GiB')
    print(markdown(report))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == '__main__':
    main()
