"""Plot the per-class Logits Magnitude and Regularized Standard Deviation of
one or more evaluated models (LORT's logit diagnostics).

Input files are the JSON that :class:`LogitsStatistics` writes with
``out_file``; produce one per model, for example::

    python tools/test.py CONFIG CKPT --cfg-options \\
        "test_evaluator.1.out_file=work_dirs/lort_stage2/logits.json"

(the index is the position of ``LogitsStatistics`` in ``test_evaluator``).
Classes are sorted by their number of training images, head first, and
named on the axis; the many / medium / few boundaries are marked. RSD is
undefined for a class whose LM is <= 0: it is left out of the RSD line and
marked by an ``x`` at the bottom of the axis. All files must come from the
same data set (same training class counts).

Example::

    python tools/analysis/plot_logits.py ce.json lort.json \\
        --labels "CE stage 2" "LORT stage 2" --out logits.png
"""
import argparse
import json
from typing import List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mmlt.evaluation.shot_groups import shot_group_masks  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None):
    parser = argparse.ArgumentParser(
        description='Plot per-class LM and RSD from LogitsStatistics files')
    parser.add_argument(
        'files', nargs='+', help='JSON files written by LogitsStatistics')
    parser.add_argument(
        '--labels', nargs='+', help='legend labels (default: file names)')
    parser.add_argument('--out', required=True, help='output PNG file')
    parser.add_argument(
        '--many-shot-thr',
        type=int,
        default=100,
        help='many-shot: more training images than this (default 100)')
    parser.add_argument(
        '--low-shot-thr',
        type=int,
        default=20,
        help='few-shot: fewer training images than this (default 20)')
    args = parser.parse_args(argv)
    if args.labels is not None and len(args.labels) != len(args.files):
        parser.error(f'got {len(args.labels)} --labels for '
                     f'{len(args.files)} files')
    return args


def load_statistics(path: str) -> dict:
    """Read a LogitsStatistics JSON file; ``null`` becomes ``nan``."""
    with open(path) as f:
        content = json.load(f)
    missing = {'lm', 'rsd', 'train_class_counts'} - content.keys()
    if missing:
        raise ValueError(f'{path} is not a LogitsStatistics file (missing '
                         f'{sorted(missing)}); write one with '
                         'LogitsStatistics(out_file=...).')
    for key in ('lm', 'rsd'):
        content[key] = np.array(
            [np.nan if v is None else v for v in content[key]], dtype=float)
    content['train_class_counts'] = np.array(content['train_class_counts'])
    return content


def draw_logits(stats: List[dict],
                labels: List[str],
                many_shot_thr: int = 100,
                low_shot_thr: int = 20) -> plt.Figure:
    """LM and RSD per class, classes sorted by training count (head first)
    and named on the axis; the RSD of a class with LM <= 0 (undefined) is
    left out of its line and marked by an ``x`` at the bottom of the RSD
    axis instead, so that it cannot swamp the axis.

    Args:
        stats (list[dict]): :func:`load_statistics` of each model, all with
            the same ``train_class_counts``.
        labels (list[str]): Legend labels, one per model.
        many_shot_thr (int): Many-shot threshold. Defaults to 100.
        low_shot_thr (int): Few-shot threshold. Defaults to 20.

    Returns:
        matplotlib.figure.Figure: Two axes, LM above RSD.
    """
    counts = stats[0]['train_class_counts']
    order = np.argsort(-counts, kind='stable')  # head first
    positions = np.arange(counts.size)
    classes = stats[0].get('classes') or [str(i) for i in range(counts.size)]
    names = [str(classes[i]) for i in order]

    fig, axes = plt.subplots(
        2, 1, figsize=(max(8, 0.12 * counts.size), 6), sharex=True)
    undefined = []
    for s, label in zip(stats, labels):
        lm, rsd = s['lm'][order], s['rsd'][order]
        line, = axes[0].plot(positions, lm, label=label, linewidth=1)
        axes[1].plot(
            positions, np.where(lm > 0, rsd, np.nan), label=label,
            linewidth=1, color=line.get_color())
        undefined.append((label, line.get_color(), positions[lm <= 0]))
    bottom = axes[1].get_ylim()[0]
    for label, color, where in undefined:
        if where.size:
            axes[1].plot(
                where, np.full(where.size, bottom), 'x', color=color,
                clip_on=False, label=f'{label}: LM <= 0, RSD not shown')
    axes[1].set_ylim(bottom=bottom)
    # Group boundaries: first medium-shot and first few-shot class.
    groups = shot_group_masks(counts[order], many_shot_thr, low_shot_thr)
    for first in (groups['many'].sum(), counts.size - groups['few'].sum()):
        if 0 < first < counts.size:
            for ax in axes:
                ax.axvline(
                    first - 0.5, color='gray', linestyle='--', linewidth=0.8)
    step = max(1, counts.size // 100)  # at most about 100 names
    axes[1].set_xticks(positions[::step])
    axes[1].set_xticklabels(names[::step], rotation=90, fontsize=6)
    axes[0].set_ylabel('Logits Magnitude')
    axes[1].set_ylabel('Regularized Std')
    axes[1].set_xlabel('classes by training images (head to tail); '
                       f'dashed: >{many_shot_thr} / >={low_shot_thr}')
    axes[0].legend()
    if any(where.size for _, _, where in undefined):
        axes[1].legend()
    fig.tight_layout()
    return fig


def plot_logits(files: List[str],
                out: str,
                labels: Optional[List[str]] = None,
                many_shot_thr: int = 100,
                low_shot_thr: int = 20) -> None:
    """Draw LM and RSD per class (:func:`draw_logits`) and save a PNG.

    Args:
        files (list[str]): LogitsStatistics JSON files.
        out (str): Output PNG path.
        labels (list[str], optional): Legend labels. Defaults to the files.
        many_shot_thr (int): Many-shot threshold. Defaults to 100.
        low_shot_thr (int): Few-shot threshold. Defaults to 20.
    """
    stats = [load_statistics(path) for path in files]
    counts = stats[0]['train_class_counts']
    for path, s in zip(files[1:], stats[1:]):
        if not np.array_equal(s['train_class_counts'], counts):
            raise ValueError(
                f'{path} and {files[0]} have different training class counts; '
                'they come from different data sets.')
    fig = draw_logits(stats, labels or list(files), many_shot_thr,
                      low_shot_thr)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    plot_logits(args.files, args.out, args.labels, args.many_shot_thr,
                args.low_shot_thr)
    print(f'Saved {args.out}')


if __name__ == '__main__':
    main()
