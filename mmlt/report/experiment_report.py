"""The long-tail report of in-process experiment runs (e.g. the demo's),
made the way ``tools/analysis/lt_report.py`` makes it: each row's test
predictions are written as a ``tools/test.py --out`` dump and each chosen
re-balancing's validation table as a ``select_tau.py --out`` file, then
:func:`report_from_files` reads them back."""
import os
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, Optional, Sequence

from mmlt.evaluation.shot_groups import LOW_SHOT_THR, MANY_SHOT_THR
from mmlt.experiments.figures import split_probabilities
from mmlt.experiments.selection import SELECTION_METRIC
from mmlt.experiments.split_record import SplitRecord
from mmlt.experiments.test_dump import write_test_dump
from mmlt.experiments.writers import write_json
from .long_tail_report import report_from_files


@dataclass
class ReportRow:
    """One compared result: a test split, plain or re-balanced post hoc.

    Args:
        name (str): Name shown in the report.
        record (SplitRecord): The test split's logits and labels.
        method (str, optional): Post-hoc re-balancing type of the scores;
            None for the plain softmax (whose dump also keeps the logits).
        tau (float): Exponent of ``method``.
    """
    name: str
    record: SplitRecord
    method: Optional[str] = None
    tau: float = 0.0


def _file_stem(name: str) -> str:
    return re.sub(r'[^A-Za-z0-9]+', '_', name).strip('_').lower() or 'result'


def tau_sweep_content(choice: Dict) -> Dict:
    """The ``select_tau.py --out`` content of one tau choice of
    :func:`mmlt.experiments.choose_then_test` (its ``choices`` entry with
    ``parameter == 'tau'``)."""
    if choice.get('parameter') != 'tau':
        raise ValueError('Expected a tau choice of choose_then_test, got the '
                         f'choice of {choice.get("parameter")!r}.')
    return dict(
        method=choice['method'],
        metric=SELECTION_METRIC,
        best_tau=choice['chosen'],
        table=choice['validation'])


def report_from_runs(out_dir: str,
                     rows: Sequence[ReportRow],
                     work_dirs: Sequence[str] = (),
                     tau_choices: Optional[Dict[str, Dict]] = None,
                     many_shot_thr: int = MANY_SHOT_THR,
                     low_shot_thr: int = LOW_SHOT_THR) -> str:
    """Write ``out_dir/report.html`` (and its JSON and PNGs) for ``rows``.

    The dumps go to ``out_dir/predictions/<row>.pkl`` and the tau tables to
    ``out_dir/tau_sweeps/<name>.json``; the training counts and class names
    are those of the first row's record.

    Args:
        out_dir (str): The report's directory.
        rows (Sequence[ReportRow]): The results compared, of one test set.
        work_dirs (Sequence[str]): Training work dirs for the loss and GALA
            ratio curves. Defaults to none.
        tau_choices (dict[str, dict], optional): Name -> a tau choice of
            :func:`mmlt.experiments.choose_then_test` (see
            :func:`tau_sweep_content`). Defaults to none.
        many_shot_thr (int): Many-shot threshold. Defaults to 100.
        low_shot_thr (int): Few-shot threshold. Defaults to 20.

    Returns:
        str: The path of ``report.html``.
    """
    if not rows:
        raise ValueError('report_from_runs got no rows to report.')
    dump_dir = osp.join(out_dir, 'predictions')
    sweep_dir = osp.join(out_dir, 'tau_sweeps')
    os.makedirs(dump_dir, exist_ok=True)
    dumps = []
    for row in rows:
        if row.record.split != 'test':
            raise ValueError(f'Row {row.name!r} holds the {row.record.split!r}'
                             ' split; the report is of the test split.')
        path = osp.join(dump_dir, f'{_file_stem(row.name)}.pkl')
        if path in dumps:
            raise ValueError(f'Rows named like {row.name!r} share the file '
                             f'{path}; give the rows distinct names.')
        probs = split_probabilities(row.record, row.method, row.tau)
        write_test_dump(
            path, probs.float().numpy(), row.record.labels.numpy(),
            row.record.logits.float().numpy() if row.method is None else None)
        dumps.append(path)
    sweeps = []
    if tau_choices:
        os.makedirs(sweep_dir, exist_ok=True)
        for name, choice in tau_choices.items():
            path = osp.join(sweep_dir, f'{_file_stem(name)}.json')
            write_json(path, tau_sweep_content(choice))
            sweeps.append(path)
    first = rows[0].record
    return report_from_files(
        out_dir,
        dumps,
        first.train_class_counts,
        names=[row.name for row in rows],
        classes=first.classes,
        work_dirs=work_dirs,
        tau_sweeps=sweeps,
        many_shot_thr=many_shot_thr,
        low_shot_thr=low_shot_thr,
        counts_source='the test split\'s train_class_counts')
