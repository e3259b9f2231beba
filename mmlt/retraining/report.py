"""Writers of the re-training study: the chosen classifiers as checkpoints,
the Markdown + JSON table and the PNG plots."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.runner import CheckpointLoader

from mmlt.experiments import format_figure, markdown_table, write_json


HEAD_KEYS = ('head.fc.weight', 'head.fc.bias')
TABLE_FIGURES = ('top1', 'mean_class_acc', 'many', 'medium', 'few', 'ece',
                 'lm', 'lm_many', 'lm_medium', 'lm_few', 'rsd', 'rsd_many',
                 'rsd_medium', 'rsd_few')
TABLE_COLUMNS = ('Method', 'Chosen on val', 'Top-1', 'Mean/class', 'Many',
                 'Medium', 'Few', 'ECE', 'LM', 'LM many', 'LM med.', 'LM few',
                 'RSD', 'RSD many', 'RSD med.', 'RSD few')


def write_classifier_checkpoint(stage1_checkpoint: str, weight: torch.Tensor,
                                bias: torch.Tensor, out_file: str,
                                meta: Optional[Dict] = None) -> None:
    """The stage-1 checkpoint with its linear head replaced, in the format
    ``tools/test.py`` loads (``state_dict`` and ``meta``).

    Args:
        stage1_checkpoint (str): The stage-1 checkpoint.
        weight (torch.Tensor): New ``head.fc.weight`` (C, D).
        bias (torch.Tensor): New ``head.fc.bias`` (C, ).
        out_file (str): Where to write.
        meta (dict, optional): Recorded under ``meta.retraining``.
    """
    state = CheckpointLoader.load_checkpoint(
        stage1_checkpoint, map_location='cpu')
    state_dict = state.get('state_dict', state)
    for key, value in zip(HEAD_KEYS, (weight, bias)):
        if key not in state_dict:
            raise KeyError(f'{stage1_checkpoint!r} has no {key!r}; the '
                           're-trained classifier replaces a linear head.')
        if state_dict[key].shape != value.shape:
            raise ValueError(
                f'{key} of {stage1_checkpoint!r} has shape '
                f'{tuple(state_dict[key].shape)}, the re-trained one '
                f'{tuple(value.shape)}.')
    state_dict = dict(state_dict)
    state_dict.update({
        key: value.detach().to(state_dict[key].dtype).clone()
        for key, value in zip(HEAD_KEYS, (weight, bias))
    })
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    torch.save(
        dict(
            meta=dict(
                stage1_checkpoint=stage1_checkpoint,
                retraining=dict(meta or {})),
            state_dict=state_dict), out_file)


def chosen_text(result: Dict, gala: bool = False) -> str:
    """``'eps=0.9'`` or ``'eps=0.9, tau=1.2'`` for a GALA row."""
    chosen = result['chosen']
    if isinstance(chosen, (tuple, list)):
        chosen = '(' + ', '.join(f'{v:g}' for v in chosen) + ')'
    else:
        chosen = f'{chosen:g}'
    text = f'{result["grid_key"]}={chosen}'
    if gala:
        text += f', GALA tau={result["gala"]["tau"]:g}'
    return text


def table_rows(results: Sequence[Dict]) -> List[Dict]:
    """One row per method and one per method + GALA: ``method``,
    ``chosen`` and the test figures of :data:`TABLE_FIGURES`."""
    rows = []
    for result in results:
        for gala in (False, True):
            test = result['gala']['test'] if gala else result['test']
            rows.append(
                dict(
                    method=result['method'] + (' + GALA' if gala else ''),
                    chosen=chosen_text(result, gala),
                    **{k: test[k]
                       for k in TABLE_FIGURES}))
    return rows


def study_table(rows: Sequence[Dict]) -> str:
    """The rows of :func:`table_rows` as a Markdown table."""
    return markdown_table(TABLE_COLUMNS, [
        [row['method'], row['chosen']] +
        [format_figure(row[k]) for k in TABLE_FIGURES] for row in rows
    ], [False, False] + [True] * len(TABLE_FIGURES)) + '\n'


def write_tables(results: Sequence[Dict], work_dir: str,
                 info: Dict) -> List[Dict]:
    """Write ``results.json`` (rows, per-class LM / RSD, val curves and
    ``info``) and ``results.md``; return the rows."""
    rows = table_rows(results)
    detail = [
        dict(
            method=r['method'],
            grid_key=r['grid_key'],
            chosen=r['chosen'],
            val=r['val'],
            gala=dict(tau=r['gala']['tau'], val=r['gala']['val']),
            class_lm=r['test']['class_lm'],
            class_rsd=r['test']['class_rsd']) for r in results
    ]
    os.makedirs(work_dir, exist_ok=True)
    write_json(
        osp.join(work_dir, 'results.json'),
        dict(info=info, rows=rows, methods=detail))
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write(study_table(rows))
    return rows


def write_plots(results: Sequence[Dict], train_class_counts: np.ndarray,
                work_dir: str) -> List[str]:
    """The study's PNG plots; returns their paths.

    - ``acc_vs_lm.png`` / ``acc_vs_rsd.png``: test mean per-class accuracy
      against mean LM / RSD, one point per method (and + GALA);
    - ``per_class_lm_rsd.png``: per-class LM and RSD, classes sorted by
      training count (largest first), methods overlaid;
    - ``val_vs_grid.png``: validation mean per-class accuracy against each
      method's grid value.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    rows = table_rows(results)
    paths = []
    for stat in ('lm', 'rsd'):
        fig, ax = plt.subplots(figsize=(6, 4.5))
        for row in rows:
            ax.scatter(row[stat], row['mean_class_acc'],
                       marker='^' if 'GALA' in row['method'] else 'o')
            ax.annotate(row['method'], (row[stat], row['mean_class_acc']),
                        fontsize=7)
        ax.set_xlabel(f'mean {stat.upper()} (test)')
        ax.set_ylabel('mean per-class accuracy (test, %)')
        fig.tight_layout()
        paths.append(osp.join(work_dir, f'acc_vs_{stat}.png'))
        fig.savefig(paths[-1], dpi=120)
        plt.close(fig)

    order = np.argsort(-np.asarray(train_class_counts), kind='stable')
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for result in results:
        for ax, stat in zip(axes, ('class_lm', 'class_rsd')):
            ax.plot(
                np.asarray(result['test'][stat])[order],
                marker='.',
                label=result['method'])
    for ax, stat in zip(axes, ('LM', 'RSD')):
        ax.set_xlabel('class, by training images (largest first)')
        ax.set_ylabel(f'{stat} (test)')
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    paths.append(osp.join(work_dir, 'per_class_lm_rsd.png'))
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(
        1, len(results), figsize=(2.6 * len(results), 2.8), squeeze=False)
    for ax, result in zip(axes[0], results):
        values = [row['value'] for row in result['val']]
        labels = [
            '/'.join(f'{x:g}' for x in v) if isinstance(v, (tuple, list))
            else f'{v:g}' for v in values
        ]
        ax.plot(range(len(values)),
                [row['mean_class_acc'] for row in result['val']],
                marker='o')
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels(labels, rotation=90, fontsize=6)
        ax.set_title(f'{result["method"]} ({result["grid_key"]})',
                     fontsize=8)
    axes[0][0].set_ylabel('val mean per-class acc. (%)')
    fig.tight_layout()
    paths.append(osp.join(work_dir, 'val_vs_grid.png'))
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths



def rank_correlation(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: the Pearson correlation of the ranks,
    tied values sharing their mean rank,
    ``rho = sum_i (r_i - mean r)(s_i - mean s) /
    sqrt(sum_i (r_i - mean r)^2 sum_i (s_i - mean s)^2)``.

    Args:
        x (Sequence[float]): One value per item (e.g. per method).
        y (Sequence[float]): The other value per item, same length, >= 3.

    Returns:
        float: rho in [-1, 1].
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 3:
        raise ValueError('rank_correlation expects two 1-D sequences of the '
                         f'same length >= 3, got shapes {x.shape} and '
                         f'{y.shape}.')
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError(f'rank_correlation got a non-finite value: {x}, {y}.')

    def ranks(values: np.ndarray) -> np.ndarray:
        rank = np.empty(len(values))
        rank[np.argsort(values, kind='stable')] = np.arange(1, len(values) + 1)
        _, tie, size = np.unique(
            values, return_inverse=True, return_counts=True)
        return (np.bincount(tie, weights=rank) / size)[tie]

    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    norm = np.sqrt((rx**2).sum() * (ry**2).sum())
    if norm == 0:
        raise ValueError('rank_correlation is undefined for a constant '
                         f'sequence: {x}, {y}.')
    return float((rx * ry).sum() / norm)


def correlation_text(runs: Sequence[Dict]) -> str:
    """The paper's analysis over the methods of each run (the rows without
    GALA on top): Spearman's rho of test mean per-class accuracy with mean
    LM and with mean RSD, mean ± sample std over the runs and per run."""
    methods = [
        [r for r in run['rows'] if not r['method'].endswith(' + GALA')]
        for run in runs
    ]
    if len(methods[0]) < 3:
        return ('- Rank correlation of accuracy with LM / RSD: not computed, '
                f'it needs at least 3 methods and these runs have '
                f'{len(methods[0])}.\n')
    lines = []
    for key, name in (('lm', 'LM'), ('rsd', 'RSD')):
        rhos = [
            rank_correlation([r['mean_class_acc'] for r in rows],
                             [r[key] for r in rows]) for rows in methods
        ]
        spread = f' ± {np.std(rhos, ddof=1):.2f}' if len(rhos) > 1 else ''
        lines.append(
            f'- Rank correlation (Spearman) across the {len(methods[0])} '
            f'methods of test mean per-class accuracy with mean {name}: '
            f'{np.mean(rhos):+.2f}{spread} (per run: ' +
            ', '.join(f'{rho:+.2f}' for rho in rhos) + ').')
    return '\n'.join(lines) + '\n'


def summarize_studies(results: Sequence[Dict]) -> str:
    """Markdown of several studies (``results.json`` contents), one table
    per stage-1 config and training profile: mean ± sample std (ddof 1)
    over the runs (seeds) of every figure of :data:`TABLE_FIGURES`.

    Args:
        results (Sequence[dict]): The loaded ``results.json`` files.

    Returns:
        str: One section per group, titled by config and imbalance factor,
        its table followed by :func:`correlation_text`.
    """
    groups: Dict[tuple, List[Dict]] = {}
    for result in results:
        info = result['info']
        key = (info['config'], tuple(info['train_class_counts']))
        groups.setdefault(key, []).append(result)
    sections = []
    for (config, counts), runs in groups.items():
        methods = [[row['method'] for row in run['rows']] for run in runs]
        if any(m != methods[0] for m in methods):
            raise ValueError(
                f'The studies of {config} ran different methods: {methods}.')
        table = []
        for index, row in enumerate(runs[0]['rows']):
            same = [run['rows'][index] for run in runs]
            cells = [row['method'], '; '.join(r['chosen'] for r in same)]
            for key in TABLE_FIGURES:
                values = np.array(
                    [np.nan if r[key] is None else r[key] for r in same])
                cells.append(
                    format_figure(
                        float(values.mean()),
                        std=float(values.std(ddof=1))
                        if len(same) > 1 else None))
            table.append(cells)
        title = (f'### {osp.basename(config)}, IF '
                 f'{max(counts) / min(counts):g}, {len(runs)} run(s)')
        sections.append(title + '\n\n' + markdown_table(
            ('Method', 'Chosen on val (per run)') + TABLE_COLUMNS[2:], table,
            [False, False] + [True] * len(TABLE_FIGURES)) + '\n\n' +
                        correlation_text(runs))
    return '\n'.join(sections)
