"""The choose-on-validation rule: the grid sorted, the first maximum wins.

Every choice of an experiment (a re-balancing tau, LORT's eps, GALA's
lambdas, ...) takes the grid value whose validation figure is highest; on a
tie the smallest grid value wins, whatever order the grid was given in.
"""
import argparse
import math
from typing import Any, Dict, List, Sequence

DEFAULT_TAUS = tuple(round(0.1 * i, 1) for i in range(21))  # 0, 0.1, .., 2
SELECTION_METRIC = 'mean_class_acc'
SELECTION_RULE = ('highest mean per-class accuracy on the validation split '
                  '(the smallest grid value on ties)')


def sorted_grid(values: Sequence, name: str) -> List:
    """The grid in increasing order; an empty grid or a repeated value is
    refused.

    Args:
        values (Sequence): Grid values (numbers, or tuples of numbers).
        name (str): What the grid is of, for the error message.

    Returns:
        list: The sorted values.
    """
    values = list(values)
    if not values:
        raise ValueError(f'The {name} grid is empty.')
    grid = sorted(values)
    repeated = [a for a, b in zip(grid, grid[1:]) if a == b]
    if repeated:
        raise ValueError(f'The {name} grid {values} repeats {repeated[0]}.')
    return grid


def check_tau_grid(taus: Sequence[float], name: str = 'tau') -> List[float]:
    """The sorted tau grid, refused unless every tau is a finite number
    >= 0.

    Args:
        taus (Sequence[float]): Exponents of a post-hoc re-balancing.
        name (str): What the grid is called, for the error message.

    Returns:
        list[float]: The sorted taus.
    """
    bad = [
        t for t in taus if not isinstance(t, (int, float))
        or isinstance(t, bool) or not math.isfinite(t) or t < 0
    ]
    if bad:
        raise ValueError(f'Every value of the {name} grid must be a finite '
                         f'number >= 0; got {bad[0]!r} in {list(taus)}.')
    return [float(t) for t in sorted_grid(taus, name)]


class _TauGridAction(argparse.Action):
    """Stores the grid checked by :func:`check_tau_grid` (sorted); a bad
    grid is a usage error naming the bad value."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            setattr(namespace, self.dest,
                    check_tau_grid(values, option_string))
        except ValueError as error:
            parser.error(str(error))


def add_tau_argument(parser: argparse.ArgumentParser,
                     default: Sequence[float] = DEFAULT_TAUS,
                     what: str = 'tau grid of the re-balancing') -> None:
    """Add ``--taus`` to ``parser``: a tau grid, refused at parse time
    unless :func:`check_tau_grid` accepts it, stored sorted.

    Args:
        parser (argparse.ArgumentParser): The entry point's parser.
        default (Sequence[float]): The grid without ``--taus``. Defaults
            to :data:`DEFAULT_TAUS`.
        what (str): The help text, before the default.
    """
    grid = check_tau_grid(default, 'default tau')
    shown = ', '.join(f'{t:g}' for t in grid[:2]) + (
        f', ..., {grid[-1]:g}' if len(grid) > 2 else '')
    parser.add_argument(
        '--taus',
        type=float,
        nargs='+',
        action=_TauGridAction,
        default=grid,
        help=f'{what} (default {shown})')


def add_metric_argument(parser: argparse.ArgumentParser, value: str) -> None:
    """Add ``--metric``: the validation figure to maximise, ``top1`` or
    ``mean_class_acc`` (default :data:`SELECTION_METRIC`); as in
    :func:`choose_on_val`, ties go to the smaller grid value.

    Args:
        parser (argparse.ArgumentParser): The entry point's parser.
        value (str): The name of the grid value, for the help text.
    """
    parser.add_argument(
        '--metric',
        choices=['top1', 'mean_class_acc'],
        default=SELECTION_METRIC,
        help=f'the validation figure to maximise (ties go to the smaller '
        f'{value})')


def choose_on_val(rows: Sequence[Dict[str, Any]],
                  key: str,
                  metric: str = SELECTION_METRIC) -> Dict[str, Any]:
    """The row of the highest validation ``metric``; on a tie the one with
    the smallest ``row[key]``.

    Args:
        rows (Sequence[dict]): One row per grid value, each with ``key``
            (the grid value) and ``metric`` (its validation figure).
        key (str): The grid value's key, e.g. ``'tau'``.
        metric (str): The figure to maximise. Defaults to
            ``'mean_class_acc'``.

    Returns:
        dict: The chosen row (the object given, not a copy).
    """
    ordered = sorted(rows, key=lambda row: row[key])
    sorted_grid([row[key] for row in ordered], key)
    scores = [row[metric] for row in ordered]
    bad = [row[key] for row, s in zip(ordered, scores) if not math.isfinite(s)]
    if bad:
        raise ValueError(f'The validation {metric} of {key}={bad[0]!r} is '
                         f'not finite; cannot choose {key} on it.')
    return ordered[scores.index(max(scores))]
