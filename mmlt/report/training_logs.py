"""Readers of the training-side inputs of the long-tail report: a work dir's
``vis_data/scalars.json``, the JSON of ``tools/analysis/select_tau.py`` and
the training class counts of a config.
"""
import glob
import json
import math
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

from mmlt.evaluation.shot_groups import SHOT_GROUPS

# `train/gala/pos_neg_ratio_many` of AccumulatedGradientHook, as the logger
# writes it: without the `train/` prefix unless `log_with_hierarchy=True`.
_RATIO_KEY = re.compile(r'^(?:train/)?(gala\d*)/pos_neg_ratio_(\w+)$')
_LOSS_KEYS = ('loss', 'train/loss')


def find_scalars_files(work_dir: str) -> List[str]:
    """The ``vis_data/scalars.json`` files of a work dir, latest run first.

    mmengine's ``LocalVisBackend`` writes one per run to
    ``WORK_DIR/TIMESTAMP/vis_data/`` (training, and also test runs given
    the same work dir). ``WORK_DIR`` may also be a run directory itself.

    Args:
        work_dir (str): The training work dir.

    Returns:
        list[str]: The paths, latest timestamp first.
    """
    if not osp.isdir(work_dir):
        raise FileNotFoundError(
            f'--work-dir {work_dir!r} is not a directory; expected the work '
            'dir of a tools/train.py run.')
    direct = osp.join(work_dir, 'vis_data', 'scalars.json')
    if osp.isfile(direct):
        return [direct]
    runs = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not runs:
        raise FileNotFoundError(
            f'Work dir {work_dir!r} has no vis_data/scalars.json (looked in '
            f'{direct} and {osp.join(work_dir, "*", "vis_data")}); expected '
            'the work dir of a tools/train.py run with mmengine\'s '
            'LocalVisBackend (the default `vis_backends` of MMPretrain '
            'configs).')
    return runs[::-1]


def read_training_scalars(work_dir: str) -> Dict:
    """Training loss and GALA positive/negative gradient ratios over
    iterations, from the latest ``scalars.json`` of a work dir that has
    training lines.

    Lines with a ``loss`` are training iterations (validation and test lines
    carry metrics only). Ratios are those that
    :class:`AccumulatedGradientHook` logs,
    ``gala/pos_neg_ratio_{many,medium,few}`` (``gala{i}`` with several GALA
    losses); they are absent for runs without GALA.

    Args:
        work_dir (str): The training work dir.

    Returns:
        dict: ``scalars_file``, ``step`` and ``loss`` (lists of the training
        lines) and ``ratios``: ``{tag: {group: {'step': [...], 'value':
        [...]}}}``, ``nan`` as None.
    """
    paths = find_scalars_files(work_dir)
    for path in paths:
        scalars = _training_lines(path)
        if scalars['step']:
            return scalars
    raise ValueError(
        f'{", ".join(paths)} {"has" if len(paths) == 1 else "have"} no '
        'training loss: expected lines with "loss" and "step", as '
        'mmengine\'s LoggerHook writes during training.')


def _training_lines(path: str) -> Dict:
    """The training lines of one ``scalars.json``."""
    steps, losses, ratios = [], [], {}
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f'{path}, line {number}: not a JSON object ({error}); '
                    'expected mmengine\'s scalars.json, one JSON object '
                    'per line.') from None
            loss_key = next((k for k in _LOSS_KEYS if k in record), None)
            if loss_key is None or 'step' not in record:
                continue
            step = int(record['step'])
            steps.append(step)
            losses.append(_finite_or_none(record[loss_key]))
            for key, value in record.items():
                match = _RATIO_KEY.match(key)
                if match is None or match.group(2) not in SHOT_GROUPS:
                    continue
                series = ratios.setdefault(match.group(1), {}).setdefault(
                    match.group(2), dict(step=[], value=[]))
                series['step'].append(step)
                series['value'].append(_finite_or_none(value))
    return dict(scalars_file=path, step=steps, loss=losses, ratios=ratios)


def read_tau_sweep(path: str) -> Dict:
    """The tau table of ``tools/analysis/select_tau.py --out``.

    Args:
        path (str): The JSON file.

    Returns:
        dict: ``method``, ``metric`` (the figure maximised), ``best_tau``
        and ``tau`` / ``value`` (the grid and the validation figure of each
        tau, sorted by tau).
    """
    try:
        with open(path) as f:
            content = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(
            f'--tau-sweep {path!r} cannot be read as JSON ({error}); '
            'expected the --out file of tools/analysis/select_tau.py.'
        ) from None
    expected = ('method', 'metric', 'best_tau', 'table')
    missing = [k for k in expected if k not in content] if isinstance(
        content, dict) else list(expected)
    if missing:
        raise ValueError(
            f'--tau-sweep {path!r} lacks {missing}; expected the --out file '
            f'of tools/analysis/select_tau.py (keys {list(expected)}).')
    metric = content['metric']
    rows = sorted(content['table'], key=lambda row: row['tau'])
    if not rows or any('tau' not in r or metric not in r for r in rows):
        raise ValueError(
            f'--tau-sweep {path!r}: every row of `table` needs "tau" and '
            f'"{metric}" (the metric chosen by), got '
            f'{content["table"]!r:.200}.'
        )
    taus = [float(row['tau']) for row in rows]
    if float(content['best_tau']) not in taus:
        raise ValueError(
            f'--tau-sweep {path!r}: best_tau {content["best_tau"]} is not '
            f'in the table\'s taus {taus}.')
    return dict(
        method=content['method'],
        metric=metric,
        best_tau=float(content['best_tau']),
        tau=taus,
        value=[_finite_or_none(row[metric]) for row in rows])


def _finite_or_none(value) -> Optional[float]:
    value = float(value) if value is not None else math.nan
    return value if math.isfinite(value) else None


def training_class_counts(
        config: str) -> Tuple[List[int], Optional[List[str]]]:
    """Training images per class and class names of a config's training
    dataset (:func:`~mmlt.datasets.train_class_counts`: its
    ``metainfo['train_class_counts']``, else the counts of its labels).

    Args:
        config (str): Path of the training (or test) config.

    Returns:
        tuple[list[int], list[str] | None]: The counts and the names (None
        when the metainfo has no ``classes``).
    """
    from mmengine.config import Config
    from mmpretrain.registry import DATASETS

    import mmlt  # noqa: F401  (registries)
    from mmlt.datasets import train_class_counts
    cfg = Config.fromfile(config)
    loader = cfg.get('train_dataloader')
    if not loader or 'dataset' not in loader:
        raise ValueError(
            f'--config {config} has no train_dataloader.dataset to take the '
            'training class counts from; pass them with --class-counts.')
    dataset = DATASETS.build(loader['dataset'])
    classes = dataset.metainfo.get('classes')
    counts = train_class_counts(dataset, owner='lt_report.py --config')
    return ([int(n) for n in counts],
            None if classes is None else [str(c) for c in classes])
