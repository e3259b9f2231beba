from typing import Dict, Optional, Tuple

import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop
from mmpretrain.registry import HOOKS

from mmlt.evaluation.metrics import LogitsStatistics, RebalancedAccuracy
from mmlt.models.heads import LogitsLinearClsHead

LOOPS = ('train', 'val', 'test')


@HOOKS.register_module()
class LongTailCheckHook(Hook):
    """Check before the first iteration that model, data and metrics fit.

    At ``before_run`` (after the runner builds the loops of ``train()``,
    ``val()`` or ``test()``, before any iteration), for every built loop:

    - the head's ``num_classes`` must equal the number of
      ``metainfo['classes']`` of the loop's dataset (otherwise training runs
      a full epoch and fails at the first validation);
    - metrics that read the raw logits (:class:`LogitsStatistics`,
      :class:`RebalancedAccuracy`) need a head that keeps them
      (:class:`LogitsLinearClsHead` or a subclass);
    - the ``train_class_counts`` that the val / test datasets report (the
      shot groups of the metrics) must equal those of the train dataset.

    At ``after_load_checkpoint`` of a run without a train loop (testing or
    validating a checkpoint), the ``train_class_counts`` of the checkpoint's
    ``meta['dataset_meta']`` (saved from the training set) must equal those
    of the val / test datasets: an evaluation wrapper with another ``n_max``
    / ``imbalance_factor`` would report every figure per shot group from the
    wrong counts. A checkpoint without them (e.g. MMPretrain's pre-trained
    weights) is not checked.

    The dataset configs of mmlt (``configs/_base_/datasets/``) add it to
    ``default_hooks`` as ``long_tail_check``.

    Example:
        >>> default_hooks = dict(long_tail_check=dict(type='LongTailCheckHook'))
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        """Check head, data and metrics of every built loop.

        Args:
            runner (Runner): The runner.
        """
        head = self._head(runner)
        loops = self._built_loops(runner)
        for name, loop in loops.items():
            dataset = loop.dataloader.dataset
            classes = getattr(dataset, 'metainfo', {}).get('classes')
            num_classes = getattr(head, 'num_classes', None)
            if classes is not None and num_classes not in (None,
                                                           len(classes)):
                raise ValueError(
                    f'model.head.num_classes={num_classes} but the '
                    f'{name}_dataloader dataset ({type(dataset).__name__}) '
                    f'has {len(classes)} classes; set num_classes (and '
                    'data_preprocessor.num_classes) to the number of classes '
                    'of the data.')
            if name != 'train' and head is not None and not isinstance(
                    head, LogitsLinearClsHead):
                for metric in loop.evaluator.metrics:
                    if isinstance(metric,
                                  (LogitsStatistics, RebalancedAccuracy)):
                        raise ValueError(
                            f'{type(metric).__name__} in {name}_evaluator '
                            'reads the raw logits (`pred_logits`), but the '
                            f'head {type(head).__name__} does not keep '
                            'them; use LogitsLinearClsHead (or '
                            'RebalancedLinearClsHead / NormedLinearClsHead).')
        if 'train' in loops:
            train_counts = self._counts(loops['train'].dataloader.dataset)
            self._check_eval_counts(
                loops, train_counts,
                'the train dataset (train_dataloader)')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Check the checkpoint's training counts against the evaluation
        splits of a test / val run.

        Args:
            runner (Runner): The runner.
            checkpoint (dict): The loaded checkpoint.
        """
        loops = self._built_loops(runner)
        if 'train' in loops:
            return  # the train dataloader was checked in before_run
        meta = checkpoint.get('meta') or {}
        counts = (meta.get('dataset_meta') or {}).get('train_class_counts')
        if counts is not None:
            self._check_eval_counts(loops, tuple(int(n) for n in counts),
                                    'the checkpoint (its training set)')

    @staticmethod
    def _check_eval_counts(loops: Dict[str, BaseLoop],
                           train_counts: Optional[Tuple[int, ...]],
                           source: str) -> None:
        if train_counts is None:
            return
        for name in ('val', 'test'):
            if name not in loops:
                continue
            dataset = loops[name].dataloader.dataset
            counts = LongTailCheckHook._counts(dataset)
            if counts is not None and counts != train_counts:
                differ = [
                    c for c, (a, b) in enumerate(zip(counts, train_counts))
                    if a != b
                ]
                raise ValueError(
                    f'The {name}_dataloader dataset '
                    f'({type(dataset).__name__}) reports train_class_counts '
                    f'{_abbreviate(counts)}, but {source} has '
                    f'{_abbreviate(train_counts)} (first differing class: '
                    f'{differ[0] if differ else "lengths differ"}). Its '
                    'shot groups would be wrong: give its LongTailDataset '
                    'the n_max, imbalance_factor, profile, mu and '
                    'class_order of the training split.')

    @staticmethod
    def _counts(dataset) -> Optional[Tuple[int, ...]]:
        counts = getattr(dataset, 'metainfo', {}).get('train_class_counts')
        return None if counts is None else tuple(int(n) for n in counts)

    @staticmethod
    def _built_loops(runner) -> Dict[str, BaseLoop]:
        loops = {}
        for name in LOOPS:
            loop = getattr(runner, f'_{name}_loop')
            if isinstance(loop, BaseLoop):
                loops[name] = loop
        return loops

    @staticmethod
    def _head(runner) -> Optional[nn.Module]:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        # A TTA model wraps the classifier as `module`.
        model = getattr(model, 'module', model)
        return getattr(model, 'head', None)


def _abbreviate(counts: Tuple[int, ...], shown: int = 6) -> str:
    head = ', '.join(str(n) for n in counts[:shown])
    if len(counts) <= shown:
        return f'[{head}]'
    return f'[{head}, ...] ({len(counts)} classes)'
