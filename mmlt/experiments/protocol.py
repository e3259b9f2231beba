"""Train one candidate per grid value, make every choice on the validation
split, then, and only then, compute the test figures of what was chosen.

The order is fixed by :func:`choose_then_test`: it reads the validation
record of every candidate, makes the choices (the candidate, each post-hoc
re-balancing tau; :func:`choose_on_val`), and only after the last choice
asks for the chosen candidate's test record, once.
"""
import time
from dataclasses import dataclass
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple)

from mmengine.config import Config

from .figures import split_figures, tau_table
from .selection import (SELECTION_METRIC, SELECTION_RULE, check_tau_grid,
                        choose_on_val, sorted_grid)
from .split_record import SplitRecord


@dataclass
class Candidate:
    """One trained model of a grid.

    Args:
        value: The grid value it was trained with (None: no grid).
        cfg (Config): Its config.
        checkpoint (str): Its last checkpoint.
        train_seconds (float): Its training time.
    """
    value: Any
    cfg: Config
    checkpoint: str
    train_seconds: float


def train_candidates(values: Optional[Sequence],
                     make_config: Callable[[Any], Config],
                     train: Callable[[Config, Any], str]) -> List[Candidate]:
    """Train one candidate per grid value, in sorted grid order.

    Args:
        values (Sequence, optional): The grid; None trains one candidate
            (value None).
        make_config (Callable): Grid value -> config of its training.
        train (Callable): ``(config, value)`` -> checkpoint path, e.g. a
            wrapper of :func:`mmlt.experiments.runs.train`.

    Returns:
        list[Candidate]: The trained candidates, in grid order.
    """
    grid = [None] if values is None else sorted_grid(values, 'candidate')
    candidates = []
    for value in grid:
        cfg = make_config(value)
        start = time.time()
        checkpoint = train(cfg, value)
        candidates.append(
            Candidate(value, cfg, checkpoint, time.time() - start))
    return candidates


def _without_class_acc(figures: Dict) -> Dict:
    return {k: v for k, v in figures.items() if k != 'class_acc'}


def choose_candidate(candidates: Sequence[Candidate],
                     val_record: Callable[[Candidate], SplitRecord],
                     parameter: str = 'value',
                     metric: str = SELECTION_METRIC) -> Tuple[Candidate, Dict]:
    """The candidate of the highest validation ``metric`` of its plain
    predictions (:func:`choose_on_val`: the smallest grid value on ties).

    Args:
        candidates (Sequence[Candidate]): Trained candidates (at least one).
        val_record (Callable): Candidate -> its validation record.
        parameter (str): Name of the candidates' grid value, for the
            record of the choice. Defaults to ``'value'``.
        metric (str): Validation figure maximised. Defaults to
            ``'mean_class_acc'``.

    Returns:
        tuple[Candidate, dict]: The chosen candidate, and the record of the
        choice: ``parameter``, ``method`` (None), ``grid``, ``rule``,
        ``chosen`` and the ``validation`` table (figures without
        ``class_acc`` and ``value``, per candidate in the given order).
    """
    validation = [
        dict(_without_class_acc(split_figures(val_record(c))), value=c.value)
        for c in candidates
    ]
    row = choose_on_val(validation, 'value', metric)
    chosen = candidates[[id(r) for r in validation].index(id(row))]
    return chosen, dict(
        parameter=parameter,
        method=None,
        grid=[c.value for c in candidates],
        rule=f'{SELECTION_RULE}, plain predictions',
        chosen=chosen.value,
        validation=validation)


def choose_then_test(candidates: Sequence[Candidate],
                     val_record: Callable[[Candidate], SplitRecord],
                     test_record: Callable[[Candidate], SplitRecord],
                     rebalancing: Mapping[str, Sequence[float]] = {},
                     parameter: str = 'value',
                     metric: str = SELECTION_METRIC) -> Dict:
    """Choose on the validation split, then test the choice.

    With several candidates the one of the highest validation ``metric``
    of its plain predictions is kept; then, for each post-hoc re-balancing
    method, tau is chosen on the kept candidate's validation split. Only
    then is the test record asked for (once).

    Args:
        candidates (Sequence[Candidate]): Trained candidates (at least one).
        val_record (Callable): Candidate -> its validation record.
        test_record (Callable): Candidate -> its test record.
        rebalancing (Mapping[str, Sequence[float]]): Post-hoc re-balancing
            types (``'PredictionRebalancing'``, ...) and their tau
            grids. Defaults to none.
        parameter (str): Name of the candidates' grid value, for the
            record of the choice. Defaults to ``'value'``.
        metric (str): Validation figure maximised. Defaults to
            ``'mean_class_acc'``.

    Returns:
        dict: ``candidate`` (the chosen :class:`Candidate`), ``choices``
        (per choice: ``parameter``, ``method``, ``grid``, ``rule``,
        ``chosen`` and the ``validation`` table), ``validation`` (plain
        validation figures per candidate, or None), ``test`` (test figures
        ``'plain'`` and per method, with ``class_acc``), ``test_record``
        (the chosen candidate's test :class:`SplitRecord`), ``num_val`` and
        the test split's ``num_test``, ``train_class_counts`` and ``classes``.
    """
    if not candidates:
        raise ValueError('choose_then_test got no candidates.')
    grids = {method: check_tau_grid(taus, f'{method} tau')
             for method, taus in rebalancing.items()}
    records = {}
    if len(candidates) > 1 or grids:
        records = {id(c): val_record(c) for c in candidates}
    choices, validation, chosen = [], None, candidates[0]
    if len(candidates) > 1:
        chosen, choice = choose_candidate(candidates,
                                          lambda c: records[id(c)],
                                          parameter, metric)
        choices.append(choice)
        validation = choice['validation']
    taus = {}
    for method, grid in grids.items():
        table = [
            _without_class_acc(row)
            for row in tau_table(records[id(chosen)], method, grid)
        ]
        taus[method] = choose_on_val(table, 'tau', metric)['tau']
        choices.append(
            dict(
                parameter='tau',
                method=method,
                grid=grid,
                rule=SELECTION_RULE,
                chosen=taus[method],
                validation=table))

    # every choice is made: now, and only now, the test split
    test = test_record(chosen)
    if test.split != 'test':
        raise ValueError(f'test_record gave the {test.split!r} split.')
    figures = dict(plain=split_figures(test))
    for method, tau in taus.items():
        figures[method] = split_figures(test, method, tau)
    return dict(
        candidate=chosen,
        choices=choices,
        validation=validation,
        test=figures,
        test_record=test,
        num_val=len(records[id(chosen)]) if records else None,
        num_test=len(test),
        train_class_counts=list(test.train_class_counts),
        classes=None if test.classes is None else list(test.classes))
