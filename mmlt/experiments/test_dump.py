"""Reading and writing the predictions of ``tools/test.py --out``
(mmengine's ``DumpResults``: a pickled list of per-sample dicts with
``pred_score``, ``gt_label`` and, from ``LogitsLinearClsHead`` and its
subclasses, ``pred_logits``).

The file is read by :class:`DumpUnpickler`: an allowlist (tensors, NumPy
arrays, containers and numbers: what a dump of MMPretrain data samples
holds), so a file that would run code is refused rather than executed, and
the scores and logits copied into one float32 array each while the file is
read, so the load holds about one copy of them (see docs/benchmarks.md).
"""
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import torch

from mmlt.evaluation.metrics.sample_copy_dump import dump_without_memo

from .dump_unpickler import DumpUnpickler, Refused, RowRef

# (dump key, returned name) of the per-class fields.
_ROW_FIELDS = (('pred_score', 'scores'), ('pred_logits', 'logits'))


def read_test_dump(path: str) -> Dict[str, np.ndarray]:
    """The scores, labels and (if dumped) logits of a ``tools/test.py
    --out`` file.

    Args:
        path (str): The ``.pkl`` file.

    Returns:
        dict[str, np.ndarray]: ``scores`` (N, C) float32, ``labels`` (N, )
        int64 and, when every sample has ``pred_logits``, ``logits`` (N, C)
        float32; in the dump's (dataset) order.
    """
    expected = ('expected a tools/test.py --out dump: a list of per-sample '
                'dicts with `pred_score` and `gt_label`')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} does not exist; {expected}.')
    try:
        with open(path, 'rb') as f:
            unpickler = DumpUnpickler(f, path, [key for key, _ in _ROW_FIELDS])
            samples = unpickler.load()
    except Refused as error:
        raise ValueError(str(error)) from None
    except Exception as error:  # truncated or not a pickle at all
        raise ValueError(f'{path} cannot be unpickled ({type(error).__name__}'
                         f': {error}); {expected}.') from None
    if not isinstance(samples, list) or not samples or not all(
            isinstance(s, dict) for s in samples):
        raise ValueError(f'{path} holds a {type(samples).__name__}'
                         f'{" (empty)" if samples == [] else ""}; {expected}.')
    for key in ('pred_score', 'gt_label'):
        missing = next((i for i, s in enumerate(samples) if key not in s),
                       None)
        if missing is not None:
            raise ValueError(f'{path}: sample {missing} has no `{key}` '
                             f'(keys {sorted(samples[missing])}); '
                             f'{expected}.')
    with_logits = sum('pred_logits' in s for s in samples)
    if 0 < with_logits < len(samples):
        raise ValueError(
            f'{path}: {with_logits} of {len(samples)} samples have '
            '`pred_logits`; expected all or none (one head per dump).')

    arrays = {}
    num_classes = None
    for key, name in _ROW_FIELDS[:2 if with_logits else 1]:
        refs = [sample.pop(key) for sample in samples]
        bad = next(
            (i for i, ref in enumerate(refs) if not isinstance(ref, RowRef)),
            None)
        if bad is not None:
            raise ValueError(
                f'{path}: sample {bad} has a `{key}` of type '
                f'{type(refs[bad]).__name__}; expected a tensor or array.')
        if num_classes is None:
            num_classes = refs[0].numel
        bad = next(
            (i for i, ref in enumerate(refs) if ref.numel != num_classes),
            None)
        if bad is not None:
            raise ValueError(
                f'{path}: sample {bad} has {refs[bad].numel} `{key}` values, '
                f'sample 0 has {num_classes}; expected one class count in a '
                'dump.')
        arrays[name] = unpickler.rows[key].take(refs)
    labels = np.empty(len(samples), dtype=np.int64)
    for i, sample in enumerate(samples):
        label = torch.as_tensor(sample['gt_label']).reshape(-1)
        if label.numel() != 1:
            raise ValueError(
                f'{path}: sample {i} has a `gt_label` of {label.numel()} '
                'values; expected one hard label per sample.')
        labels[i] = int(label)
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f'{path}: labels range over [{labels.min()}, {labels.max()}] '
            f'but the scores have {num_classes} classes.')
    return dict(arrays, labels=labels)


def dump_samples(scores: np.ndarray,
                 labels: np.ndarray,
                 logits: Optional[np.ndarray] = None) -> List[dict]:
    """The per-sample dicts of a ``tools/test.py --out`` dump (what
    mmengine's ``DumpResults`` pickles for MMPretrain data samples), with
    the rows as tensors over the arrays' rows (no copy).

    Args:
        scores (np.ndarray): Class probabilities, (N, C).
        labels (np.ndarray): True class indices, (N, ).
        logits (np.ndarray, optional): Raw logits, (N, C).

    Returns:
        list[dict]: Per sample ``pred_score``, ``pred_label``, ``gt_label``,
        ``num_classes`` and, with ``logits``, ``pred_logits``.
    """
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    if logits is not None:
        logits = np.ascontiguousarray(logits, dtype=np.float32)
    predicted = scores.argmax(axis=1)
    samples = []
    for i, label in enumerate(np.asarray(labels, dtype=np.int64)):
        sample = dict(
            pred_score=torch.from_numpy(scores[i]),
            pred_label=torch.tensor([int(predicted[i])]),
            gt_label=torch.tensor([int(label)]),
            num_classes=scores.shape[1])
        if logits is not None:
            sample['pred_logits'] = torch.from_numpy(logits[i])
        samples.append(sample)
    return samples


def write_test_dump(path: str,
                    scores: np.ndarray,
                    labels: np.ndarray,
                    logits: Optional[np.ndarray] = None) -> None:
    """Write predictions in the format of ``tools/test.py --out`` (pickle
    protocol 2 of :func:`dump_samples`, written as ``tools/test.py --out``
    writes it: :func:`~mmlt.evaluation.metrics.sample_copy_dump.
    dump_without_memo`), e.g. for predictions computed in memory, so that
    the tools read them like a test run's. Writing holds the arrays plus
    at most about twice the file.

    Args:
        path (str): The ``.pkl`` file.
        scores (np.ndarray): Class probabilities, (N, C).
        labels (np.ndarray): True class indices, (N, ).
        logits (np.ndarray, optional): Raw logits, (N, C).
    """
    dump_without_memo(dump_samples(scores, labels, logits), path)
