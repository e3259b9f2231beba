"""The figures of the long-tail report, drawn with matplotlib's object API
(no pyplot state) and returned as PNG bytes.
"""
import io
from typing import Dict, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure

from mmlt.evaluation.shot_groups import SHOT_GROUPS

_GROUP_COLOURS = dict(many='#dbe9f6', medium='#fdf0d5', few='#f9dcdc')
_MARKERS = 'osD^vP*X'
# Up to this many classes the confusion matrix is labelled class by class.
_LABELLED_CLASSES_MAX = 30


def to_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render ``fig`` as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=dpi)
    return buffer.getvalue()


def _shot_bands(ax, max_count: int, many_shot_thr: int,
                low_shot_thr: int) -> None:
    """Shade the few / medium / many-shot ranges of a training-count x axis
    (integer counts: few <= low - 1, medium low..many, many >= many + 1)."""
    edges = dict(
        few=(0, low_shot_thr - 0.5),
        medium=(low_shot_thr - 0.5, many_shot_thr + 0.5),
        many=(many_shot_thr + 0.5, max(max_count, many_shot_thr + 1) * 1.5))
    for group in SHOT_GROUPS:
        low, high = edges[group]
        if high > low:
            ax.axvspan(low, high, color=_GROUP_COLOURS[group], zorder=0)
            ax.text(
                np.sqrt(max(low, 1) * high),
                1.01,
                f'{group}-shot',
                transform=ax.get_xaxis_transform(),
                ha='center',
                va='bottom',
                fontsize=8,
                color='grey')


def class_accuracy_figure(curves: Dict[str, Dict[str, np.ndarray]],
                          min_count: int, max_count: int, many_shot_thr: int,
                          low_shot_thr: int) -> bytes:
    """Per-class test accuracy against training images (log x; symmetric
    log, linear below 1, when a class has no training images), one line per
    result, shot groups shaded.

    Args:
        curves (dict): Per result name, ``count`` and ``accuracy`` (the
            points of :func:`accuracy_by_training_count`).
        min_count (int): The smallest training count.
        max_count (int): The largest training count.
        many_shot_thr (int): Many-shot threshold.
        low_shot_thr (int): Few-shot threshold.
    """
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    for (name, curve), marker in zip(curves.items(), _MARKERS * len(curves)):
        ax.plot(
            curve['count'],
            curve['accuracy'],
            marker=marker,
            markersize=4,
            label=name)
    if min_count > 0:
        ax.set_xscale('log')
    else:  # linear below 1: classes without training images show at 0
        ax.set_xscale('symlog', linthresh=1)
    _shot_bands(ax, max_count, many_shot_thr, low_shot_thr)
    ax.set_xlim(min_count / 1.5, max(max_count, many_shot_thr + 1) * 1.5)
    ax.set_ylim(0, 100)
    ax.set_xlabel('training images of the class (log scale)')
    ax.set_ylabel('test accuracy of the class (%)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return to_png(fig)


def confusion_figure(confusion: Dict,
                     title: str,
                     class_labels: Optional[Sequence[str]] = None) -> bytes:
    """The confusion matrix in percent of each true class (or group), rows
    and columns ordered by training count.

    Args:
        confusion (dict): As :func:`confusion_by_training_count` returns.
        title (str): Title of the figure.
        class_labels (Sequence[str], optional): Tick labels in matrix order
            (used up to 30 classes).
    """
    matrix = np.asarray(confusion['matrix'], dtype=np.float64)
    rows = matrix.sum(axis=1, keepdims=True)
    percent = np.divide(
        matrix * 100, rows, out=np.zeros_like(matrix), where=rows > 0)
    size = matrix.shape[0]
    fig = Figure(figsize=(6.5, 5.5))
    ax = fig.subplots()
    image = ax.imshow(percent, cmap='Blues', vmin=0, vmax=100)
    fig.colorbar(image, ax=ax, label='% of the true class')
    if confusion['kind'] == 'shot_groups':
        class_labels = [f'{group}-shot' for group in confusion['order']]
        for i in range(size):
            for j in range(size):
                ax.text(
                    j,
                    i,
                    f'{int(matrix[i, j])}\n{percent[i, j]:.1f}%',
                    ha='center',
                    va='center',
                    fontsize=9,
                    color='white' if percent[i, j] > 50 else 'black')
    if class_labels is not None and size <= _LABELLED_CLASSES_MAX:
        ax.set_xticks(range(size))
        ax.set_yticks(range(size))
        ax.set_xticklabels(class_labels, rotation=90, fontsize=7)
        ax.set_yticklabels(class_labels, fontsize=7)
    ax.set_xlabel('predicted (most training images first)')
    ax.set_ylabel('true (most training images first)')
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return to_png(fig)


def reliability_figure(reliability: Dict[str, np.ndarray],
                       title: str) -> bytes:
    """Reliability diagram: accuracy of each confidence bin against its
    range, the diagonal of perfect calibration, and the bins' sample share.

    Args:
        reliability (dict): As :func:`reliability_bins` returns.
        title (str): Title (name and ECE of the result).
    """
    edges = np.asarray(reliability['edges'])
    count = np.asarray(reliability['count'])
    accuracy = np.asarray(reliability['accuracy'], dtype=np.float64)
    confidence = np.asarray(reliability['confidence'], dtype=np.float64)
    width = np.diff(edges)
    filled = count > 0
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    ax.bar(
        edges[:-1][filled],
        accuracy[filled],
        width=width[filled],
        align='edge',
        edgecolor='black',
        color='#4c72b0',
        label='accuracy')
    gap = confidence[filled] - accuracy[filled]
    ax.bar(
        edges[:-1][filled],
        np.abs(gap),
        bottom=np.minimum(accuracy[filled], confidence[filled]),
        width=width[filled],
        align='edge',
        facecolor='none',
        edgecolor='#c44e52',
        hatch='//',
        label='gap to mean confidence')
    ax.plot([0, 1], [0, 1], color='grey', linestyle='--')
    share = ax.twinx()
    share.step(
        edges[:-1],
        count / max(count.sum(), 1),
        where='post',
        color='black',
        linewidth=0.8,
        label='share of samples')
    share.set_ylim(0, 1)
    share.set_ylabel('share of samples', fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel('top-1 confidence')
    ax.set_ylabel('accuracy')
    ax.set_title(title, fontsize=10)
    ax.legend(loc='upper left', fontsize=7)
    fig.tight_layout()
    return to_png(fig)


def logits_figure(lm: Dict[str, np.ndarray], rsd: Dict[str, np.ndarray],
                  train_class_counts: np.ndarray, many_shot_thr: int,
                  low_shot_thr: int) -> bytes:
    """Per-class LM and RSD, classes sorted by training count (head first),
    one line per result, shot-group boundaries marked.

    Args:
        lm (dict[str, np.ndarray]): Per result name, LM per class (C, ).
        rsd (dict[str, np.ndarray]): Per result name, RSD per class (C, ).
        train_class_counts (np.ndarray): Training images per class (C, ).
        many_shot_thr (int): Many-shot threshold.
        low_shot_thr (int): Few-shot threshold.
    """
    order = np.argsort(-train_class_counts, kind='stable')
    descending = -train_class_counts[order]  # ascending negated counts
    # first medium-shot position (count <= many) and first few-shot one
    boundaries = (np.searchsorted(descending, -many_shot_thr, side='left'),
                  np.searchsorted(descending, -low_shot_thr, side='right'))
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for ax, values, label in ((axes[0], lm, 'Logits Magnitude (LM)'),
                              (axes[1], rsd, 'RSD = std / LM')):
        for name, per_class in values.items():
            ax.plot(
                np.asarray(per_class, dtype=np.float64)[order],
                label=name,
                linewidth=1)
        for boundary in boundaries:
            if 0 < boundary < order.size:
                ax.axvline(boundary - 0.5, color='grey', linestyle=':')
        ax.set_xlabel('class, most training images first')
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return to_png(fig)


def training_figure(scalars: Dict, title: str) -> bytes:
    """Training loss and, for GALA runs, the positive / negative gradient
    ratio of each shot group over iterations.

    Args:
        scalars (dict): As :func:`read_training_scalars` returns.
        title (str): Title of the figure.
    """
    has_ratios = bool(scalars['ratios'])
    fig = Figure(figsize=(10 if has_ratios else 5, 4))
    axes = np.atleast_1d(fig.subplots(1, 2 if has_ratios else 1))
    loss = np.array([np.nan if v is None else v for v in scalars['loss']])
    axes[0].plot(scalars['step'], loss, linewidth=1)
    axes[0].set_xlabel('iteration')
    axes[0].set_ylabel('training loss')
    axes[0].set_title(title, fontsize=10)
    axes[0].grid(alpha=0.3)
    if has_ratios:
        for tag, groups in scalars['ratios'].items():
            for group in SHOT_GROUPS:
                if group in groups:
                    series = groups[group]
                    value = [
                        np.nan if v is None else v for v in series['value']
                    ]
                    axes[1].plot(
                        series['step'],
                        value,
                        linewidth=1,
                        label=f'{tag} {group}-shot')
        axes[1].set_xlabel('iteration')
        axes[1].set_ylabel('positive / negative gradient ratio')
        axes[1].grid(alpha=0.3)
        axes[1].legend(fontsize=8)
    fig.tight_layout()
    return to_png(fig)


def tau_figure(sweep: Dict, title: str) -> bytes:
    """Validation figure against tau, the chosen tau marked.

    Args:
        sweep (dict): As :func:`read_tau_sweep` returns.
        title (str): Title of the figure.
    """
    value = np.array([np.nan if v is None else v for v in sweep['value']])
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    ax.plot(sweep['tau'], value, marker='o', markersize=3)
    best = sweep['tau'].index(sweep['best_tau'])
    ax.axvline(sweep['best_tau'], color='grey', linestyle=':')
    ax.plot([sweep['best_tau']], [value[best]],
            marker='*',
            markersize=14,
            color='#c44e52',
            label=f'chosen tau {sweep["best_tau"]:g}')
    ax.set_xlabel('tau')
    ax.set_ylabel(f'validation {sweep["metric"]}')
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return to_png(fig)
