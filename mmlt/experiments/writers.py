"""Writers of experiment results: Markdown tables, JSON and plots."""
import json
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmlt.evaluation.shot_groups import (LOW_SHOT_THR, MANY_SHOT_THR,
                                         SHOT_GROUPS)
from .figures import METRIC_KEYS

FIGURE_COLUMNS = ('Overall', 'Mean/class', 'Many', 'Medium', 'Few', 'ECE')
TABLE_COLUMNS = ('Method', ) + FIGURE_COLUMNS


def format_figure(value: float, digits: int = 2,
                  std: Optional[float] = None) -> str:
    """One cell: a figure (percent, ECE too) with ``digits`` decimals;
    ``n/a`` for nan (an empty shot group); ``mean ± std`` when ``std`` is
    given and not nan."""
    if math.isnan(value):
        return 'n/a'
    if std is None or math.isnan(std):
        return f'{value:.{digits}f}'
    return f'{value:.{digits}f} ± {std:.{digits}f}'


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]],
                   numeric: Optional[Sequence[bool]] = None) -> str:
    """A Markdown table; ``numeric`` columns are right-aligned (default:
    all but the first)."""
    if numeric is None:
        numeric = [False] + [True] * (len(columns) - 1)
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f'A row has {len(row)} cells for '
                             f'{len(columns)} columns: {list(row)}.')
    lines = [
        '| ' + ' | '.join(columns) + ' |',
        '|' + '|'.join('---:' if n else '---' for n in numeric) + '|'
    ]
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    return '\n'.join(lines)


def text_table(columns: Sequence[Tuple[str, str]],
               rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table of fixed-width columns, one space apart.

    Args:
        columns (Sequence[tuple[str, str]]): Per column its title and its
            format spec for the title and the cells, e.g. ``'<12'`` (left,
            12 characters), ``'>9'`` (right) or ``''`` (as is).
        rows (Sequence[Sequence[str]]): The cells, already formatted.

    Returns:
        str: The header line and one line per row.
    """
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f'A row has {len(row)} cells for '
                             f'{len(columns)} columns: {list(row)}.')
    return '\n'.join(' '.join(f'{cell:{spec}}'
                              for cell, (_, spec) in zip(line, columns))
                     for line in [[title for title, _ in columns], *rows])


def figures_table(rows: Sequence[Dict], digits: int = 2) -> str:
    """The Markdown table of :data:`TABLE_COLUMNS` for rows with
    ``method`` and the figures of :data:`METRIC_KEYS`."""
    return markdown_table(TABLE_COLUMNS, [[row['method']] + [
        format_figure(row[key], digits) for key in METRIC_KEYS
    ] for row in rows])


def to_json(value):
    """``value`` with tuples as lists and nan as None (valid JSON)."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def write_json(path: str, value, indent: int = 2) -> None:
    """Write ``value`` (see :func:`to_json`) to ``path``."""
    with open(path, 'w') as f:
        json.dump(to_json(value), f, indent=indent)


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def plot_per_class_accuracy(rows: Sequence[Dict],
                            train_class_counts: Sequence[int],
                            class_names: Sequence[str], path: str) -> None:
    """Plot each row's per-class accuracy (``class_acc``) against the
    training images of the class (log x axis, one line per row, shot-group
    boundaries of :mod:`mmlt.evaluation.shot_groups`) as a PNG."""
    plt = _pyplot()
    counts = np.asarray(train_class_counts)
    order = np.argsort(-counts, kind='stable')
    fig, ax = plt.subplots(figsize=(8, 6.5))
    for row, marker in zip(rows, 'osD^vP*X' * len(rows)):
        ax.plot(
            counts[order],
            np.asarray(row['class_acc'], dtype=float)[order],
            marker=marker,
            label=f'{row["method"]} (mean {row["mean_class_acc"]:.1f})')
    ax.set_xscale('log')
    ax.minorticks_off()
    ax.set_xticks(counts[order])
    ax.set_xticklabels([f'{counts[c]}\n{class_names[c]}' for c in order],
                       fontsize=7)
    # few < LOW_SHOT_THR <= medium <= MANY_SHOT_THR < many, in images
    for threshold in (LOW_SHOT_THR - 0.5, MANY_SHOT_THR + 0.5):
        ax.axvline(threshold, color='grey', linestyle=':', linewidth=1)
    few_x = np.sqrt(min(counts.min(), LOW_SHOT_THR - 1) * (LOW_SHOT_THR - 1))
    many_x = np.sqrt(
        (MANY_SHOT_THR + 1) * max(counts.max(), MANY_SHOT_THR + 1))
    medium_x = np.sqrt(LOW_SHOT_THR * MANY_SHOT_THR)
    for x, group in zip((many_x, medium_x, few_x), SHOT_GROUPS):
        ax.text(x, 101, f'{group}-shot', ha='center', va='bottom',
                color='grey', fontsize=9)
    ax.set_xlabel('training images of the class (log scale)')
    ax.set_ylabel('test accuracy of the class (%)')
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.16), ncol=2,
              fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_grouped_bars(panels: Sequence[Dict], path: str) -> None:
    """One panel per entry of ``panels`` (``title`` and ``rows``, each row
    with ``method`` and ``mean`` / ``std`` dicts of figures): bars of the
    mean per-class and shot-group accuracies, std as error bars."""
    plt = _pyplot()
    keys = ('mean_class_acc', ) + SHOT_GROUPS
    names = dict(zip(METRIC_KEYS, FIGURE_COLUMNS))
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(11, 3.6 * len(panels)), squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        rows: List[Dict] = panel['rows']
        present = [
            key for key in keys
            if any(not math.isnan(row['mean'][key]) for row in rows)
        ]
        width = 0.8 / len(rows)
        for i, row in enumerate(rows):
            ax.bar(
                np.arange(len(present)) - 0.4 + (i + 0.5) * width,
                [row['mean'][key] for key in present],
                width,
                yerr=[
                    0 if math.isnan(row['std'][key]) else row['std'][key]
                    for key in present
                ],
                capsize=2,
                label=row['method'],
                color=plt.cm.tab10(i % 10))
        ax.set_xticks(np.arange(len(present)))
        ax.set_xticklabels([names[key] for key in present])
        ax.set_ylabel('test accuracy (%)')
        ax.set_ylim(0, 100)
        ax.set_title(panel['title'])
        ax.grid(axis='y', alpha=0.3)
    axes[-1, 0].legend(
        loc='upper center', bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
