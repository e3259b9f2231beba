"""The long-tail report: several results on one test set compared side by
side, written as ``report.html`` (self-contained), ``report.json`` (every
number) and the figures as PNG files beside them.
"""
import json
import math
import os
import os.path as osp
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from mmlt.evaluation.shot_groups import (LOW_SHOT_THR, MANY_SHOT_THR,
                                         SHOT_GROUPS, check_shot_thresholds,
                                         shot_group_masks, to_counts_array)
from mmlt.experiments.test_dump import read_test_dump
from . import figures as F
from .html_page import render_page
from .long_tail_analysis import FULL_CONFUSION_MAX_CLASSES, analyze_result
from .training_logs import read_tau_sweep, read_training_scalars


class LongTailReport:
    """Collects the results, training logs and tau tables of one report.

    Each result is analysed when added (:func:`analyze_result`) and only its
    numbers are kept, so results of any size are added one after another.

    Args:
        train_class_counts (Sequence[int]): Training images per class.
        classes (Sequence[str], optional): Class names. Defaults to None
            (``class 0``, ``class 1``, ...).
        many_shot_thr (int): Many-shot threshold. Defaults to 100.
        low_shot_thr (int): Few-shot threshold. Defaults to 20.
        num_bins (int): Confidence bins of ECE and reliability diagrams.
            Defaults to 15.
        counts_source (str): Where the counts come from, for errors.
            Defaults to ``'train_class_counts'``.
    """

    def __init__(self,
                 train_class_counts: Sequence[int],
                 classes: Optional[Sequence[str]] = None,
                 many_shot_thr: int = MANY_SHOT_THR,
                 low_shot_thr: int = LOW_SHOT_THR,
                 num_bins: int = 15,
                 counts_source: str = 'train_class_counts') -> None:
        check_shot_thresholds(many_shot_thr, low_shot_thr)
        counts = np.asarray(train_class_counts)
        if counts.ndim != 1:
            raise ValueError(f'{counts_source} must be a list of counts, got '
                             f'shape {counts.shape}.')
        if classes is not None and len(classes) != counts.size:
            raise ValueError(f'Got {len(classes)} class names for '
                             f'{counts.size} training class counts.')
        self.counts = to_counts_array(counts, counts.size, counts_source)
        self.classes = (
            list(classes) if classes is not None else
            [f'class {c}' for c in range(counts.size)])
        self.many_shot_thr = many_shot_thr
        self.low_shot_thr = low_shot_thr
        self.num_bins = num_bins
        self.counts_source = counts_source
        self.results: List[Dict] = []
        self.training: List[Dict] = []
        self.tau_sweeps: List[Dict] = []
        self._labels: Optional[np.ndarray] = None

    def add_result(self,
                   name: str,
                   scores: np.ndarray,
                   labels: np.ndarray,
                   logits: Optional[np.ndarray] = None,
                   source: str = '') -> None:
        """Analyse one model's test predictions.

        Results must be predictions of one test set: the same number of
        classes (that of the counts) and samples, and the same labels.

        Args:
            name (str): Name shown in the report.
            scores (np.ndarray): Class probabilities (``pred_score``),
                (N, C).
            labels (np.ndarray): True class indices, (N, ).
            logits (np.ndarray, optional): Raw logits (``pred_logits``),
                (N, C). Defaults to None.
            source (str): Where the predictions come from (e.g. the file).
        """
        what = f'{name!r} ({source})' if source else repr(name)
        if scores.ndim != 2 or labels.shape != (scores.shape[0], ):
            raise ValueError(
                f'Result {what}: expected scores of shape (N, C) and labels '
                f'of shape (N, ), got {scores.shape} and {labels.shape}.')
        if logits is not None and logits.shape != scores.shape:
            raise ValueError(f'Result {what}: logits of shape {logits.shape} '
                             f'but scores of shape {scores.shape}.')
        if scores.shape[1] != self.counts.size:
            raise ValueError(
                f'{self.counts_source} has {self.counts.size} entries but '
                f'the scores of {what} have {scores.shape[1]} classes.')
        if self._labels is None:
            self._labels = np.asarray(labels, dtype=np.int64)
            self._first = what
        elif labels.shape != self._labels.shape:
            raise ValueError(
                'Results compared together must share one test set: '
                f'{self._first} has {self._labels.size} samples, {what} has '
                f'{labels.size}.')
        else:
            differ = np.flatnonzero(labels != self._labels)
            if differ.size:
                i = int(differ[0])
                raise ValueError(
                    'Results compared together must share one test set in '
                    f'one order: sample {i} has label {int(self._labels[i])} '
                    f'in {self._first} but {int(labels[i])} in {what} '
                    f'({differ.size} labels differ).')
        analysis = analyze_result(scores, labels, self.counts, logits,
                                  self.many_shot_thr, self.low_shot_thr,
                                  self.num_bins)
        self.results.append(dict(name=name, source=source, **analysis))

    def add_training(self, name: str, scalars: Dict) -> None:
        """Add a training log, as :func:`read_training_scalars` returns."""
        self.training.append(dict(name=name, **scalars))

    def add_tau_sweep(self, name: str, sweep: Dict) -> None:
        """Add a tau table, as :func:`read_tau_sweep` returns."""
        self.tau_sweeps.append(dict(name=name, **sweep))

    def build(self) -> Tuple[Dict, Dict[str, bytes]]:
        """Draw the figures and collect every number.

        Returns:
            tuple[dict, dict[str, bytes]]: The report (JSON-ready: lists,
            None for nan) and the PNG bytes of each figure by file name.
        """
        if not self.results:
            raise ValueError('The report needs at least one result.')
        counts, classes, results = self.counts, self.classes, self.results
        thresholds = (self.many_shot_thr, self.low_shot_thr)
        figures = {}
        fig_names = dict(confusion=[], reliability=[])

        def add(file_name: str, png: bytes) -> str:
            figures[file_name] = png
            return file_name

        fig_names['class_accuracy'] = add(
            'class_accuracy.png',
            F.class_accuracy_figure(
                {r['name']: r['accuracy_by_count']
                 for r in results}, int(counts.min()), int(counts.max()),
                *thresholds))
        for r, slug in zip(results, _unique_slugs(r['name'] for r in results)):
            confusion = r['confusion']
            labels = None if confusion['kind'] == 'shot_groups' else [
                f'{classes[c]} ({counts[c]})' for c in confusion['order']
            ]
            fig_names['confusion'].append(
                add(f'confusion_{slug}.png',
                    F.confusion_figure(confusion, r['name'], labels)))
            fig_names['reliability'].append(
                add(
                    f'reliability_{slug}.png',
                    F.reliability_figure(
                        r['reliability'],
                        f'{r["name"]} (ECE {r["metrics"]["ece"]:.2f}%)')))
        with_logits = [r for r in results if 'lm' in r]
        if with_logits:
            fig_names['logits'] = add(
                'logits_lm_rsd.png',
                F.logits_figure({r['name']: r['lm']
                                 for r in with_logits},
                                {r['name']: r['rsd']
                                 for r in with_logits}, counts, *thresholds))
        fig_names['training'] = [
            add(f'training_{slug}.png', F.training_figure(run, run['name']))
            for run, slug in zip(
                self.training, _unique_slugs(r['name'] for r in self.training))
        ]
        fig_names['tau'] = [
            add(f'tau_{slug}.png', F.tau_figure(sweep, sweep['name']))
            for sweep, slug in zip(
                self.tau_sweeps,
                _unique_slugs(s['name'] for s in self.tau_sweeps))
        ]
        groups = shot_group_masks(counts, *thresholds)
        report = dict(
            classes=classes,
            train_class_counts=counts.tolist(),
            num_samples=int(self._labels.size),
            shot_groups=dict(
                many_shot_thr=self.many_shot_thr,
                low_shot_thr=self.low_shot_thr,
                num_classes={g: int(groups[g].sum())
                             for g in SHOT_GROUPS}),
            num_bins=self.num_bins,
            full_confusion_max_classes=FULL_CONFUSION_MAX_CLASSES,
            results=results,
            training=self.training,
            tau_sweeps=self.tau_sweeps,
            figures=fig_names)
        return _jsonable(report), figures

    def write(self, out_dir: str) -> str:
        """Write ``report.html``, ``report.json`` and the PNG figures.

        Args:
            out_dir (str): The output directory (created if needed).

        Returns:
            str: The path of ``report.html``.
        """
        report, figures = self.build()
        os.makedirs(out_dir, exist_ok=True)
        for file_name, png in figures.items():
            with open(osp.join(out_dir, file_name), 'wb') as f:
                f.write(png)
        with open(osp.join(out_dir, 'report.json'), 'w') as f:
            json.dump(report, f, allow_nan=False)
        page = osp.join(out_dir, 'report.html')
        with open(page, 'w', encoding='utf-8') as f:
            f.write(render_page(report, figures))
        return page


def _unique_slugs(names: Iterable[str]) -> List[str]:
    """File-name parts for ``names``: lower-case alphanumerics and dashes,
    prefixed by the position (names may repeat or be empty)."""
    return [
        f'{i}_' + re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')
        for i, name in enumerate(names)
    ]


def _jsonable(value):
    """Lists for arrays, Python scalars for NumPy ones, None for nan/inf."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def report_from_files(out_dir: str,
                      results: Sequence[str],
                      train_class_counts: Sequence[int],
                      names: Optional[Sequence[str]] = None,
                      classes: Optional[Sequence[str]] = None,
                      work_dirs: Sequence[str] = (),
                      tau_sweeps: Sequence[str] = (),
                      many_shot_thr: int = MANY_SHOT_THR,
                      low_shot_thr: int = LOW_SHOT_THR,
                      counts_source: str = 'train_class_counts') -> str:
    """The report of ``tools/test.py --out`` files, training work dirs and
    ``select_tau.py --out`` tables (what ``tools/analysis/lt_report.py``
    does).

    Args:
        out_dir (str): The output directory.
        results (Sequence[str]): The dumps, read one after another.
        train_class_counts (Sequence[int]): Training images per class.
        names (Sequence[str], optional): One name per dump. Defaults to the
            file names (the paths if those repeat).
        classes (Sequence[str], optional): Class names.
        work_dirs (Sequence[str]): Training work dirs, named by their
            directory name. Defaults to none.
        tau_sweeps (Sequence[str]): Tau tables, named by their file name.
            Defaults to none.
        many_shot_thr (int): Many-shot threshold. Defaults to 100.
        low_shot_thr (int): Few-shot threshold. Defaults to 20.
        counts_source (str): Where the counts come from, for errors.

    Returns:
        str: The path of ``report.html``.
    """
    if names is None:
        stems = [osp.splitext(osp.basename(p))[0] for p in results]
        names = stems if len(set(stems)) == len(stems) else list(results)
    elif len(names) != len(results):
        raise ValueError(f'Got {len(names)} names for {len(results)} '
                         'results; give one per result.')
    report = LongTailReport(
        train_class_counts,
        classes,
        many_shot_thr,
        low_shot_thr,
        counts_source=counts_source)
    for name, path in zip(names, results):
        dump = read_test_dump(path)
        report.add_result(
            name,
            dump['scores'],
            dump['labels'],
            dump.get('logits'),
            source=path)
        del dump  # one result in memory at a time
    for work_dir in work_dirs:
        report.add_training(
            osp.basename(osp.normpath(work_dir)),
            read_training_scalars(work_dir))
    for path in tau_sweeps:
        report.add_tau_sweep(
            osp.splitext(osp.basename(path))[0], read_tau_sweep(path))
    return report.write(out_dir)
