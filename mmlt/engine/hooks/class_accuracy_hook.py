import logging
import math
from typing import Dict, List, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import BaseLoop
from mmpretrain.registry import HOOKS

from mmlt.evaluation.metrics import LongTailAccuracy


@HOOKS.register_module()
class ClassAccuracyHook(Hook):
    """Log each class's validation accuracy to the visualizer.

    At the end of every validation, for each :class:`LongTailAccuracy` (or
    :class:`RebalancedAccuracy`) of the validation evaluator, the per-class
    top-1 accuracies (percent) go to ``runner.visualizer.add_scalars`` as
    ``{prefix}/class_acc/{c}_{name}`` (``{prefix}/rebalanced/class_acc/...``
    for the re-balanced predictions), with ``c`` the zero-padded class
    index, ``name`` the class name of ``dataset_meta['classes']`` (``/``
    replaced by ``-``) and the same step as :class:`LoggerHook`'s metrics:
    the epoch, or the iteration when ``by_epoch=False``. Classes without
    validation samples (accuracy ``nan``; the metric warns about them) are
    not logged. Only the main process logs, as the metrics are computed
    there.

    Args:
        by_epoch (bool): Whether the step is the epoch (True) or the
            iteration. Defaults to True, as :class:`LoggerHook`.

    Example:
        >>> custom_hooks = [dict(type='ClassAccuracyHook')]
    """

    priority = 'LOW'

    def __init__(self, by_epoch: bool = True) -> None:
        self.by_epoch = by_epoch

    def before_run(self, runner) -> None:
        """Warn if the validation evaluator has no long-tail metric.

        Args:
            runner (Runner): The runner.
        """
        if not isinstance(runner._val_loop, BaseLoop):
            return  # no validation in this run: nothing to log
        if not self._metrics(runner):
            print_log(
                'ClassAccuracyHook logs the per-class accuracies of '
                'LongTailAccuracy / RebalancedAccuracy, but the val_evaluator '
                f'has none ({runner.cfg.get("val_evaluator")}): no per-class '
                'accuracy will be logged. Add one, or remove the hook '
                '(default_hooks.class_accuracy=None).',
                logger='current',
                level=logging.WARNING)

    def after_val_epoch(self,
                        runner,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        """Add the per-class accuracies of the validation to the visualizer.

        Args:
            runner (Runner): The runner.
            metrics (dict, optional): The validation metrics (unused).
        """
        if not is_main_process():
            return
        scalars = {}
        for metric in self._metrics(runner):
            classes = (metric.dataset_meta or {}).get('classes')
            for figure, accuracy in metric.per_class_accuracy.items():
                width = len(str(len(accuracy) - 1))
                base = f'{metric.prefix}/' if metric.prefix else ''
                for c, value in enumerate(accuracy.tolist()):
                    if math.isnan(value):
                        continue
                    name = f'{c:0{width}d}'
                    if classes is not None:
                        name += '_' + str(classes[c]).replace('/', '-')
                    scalars[f'{base}{figure}class_acc/{name}'] = value
        if scalars:
            runner.visualizer.add_scalars(scalars, step=self._step(runner))

    def _step(self, runner) -> int:
        # As LoggerHook: without a built train loop (e.g. runner.val()) the
        # step is 0, and reading runner.epoch would build it.
        if isinstance(runner._train_loop, dict) or runner._train_loop is None:
            return 0
        return runner.epoch if self.by_epoch else runner.iter

    @staticmethod
    def _metrics(runner) -> List[LongTailAccuracy]:
        if not isinstance(runner._val_loop, BaseLoop):
            return []
        return [
            metric for metric in runner._val_loop.evaluator.metrics
            if isinstance(metric, LongTailAccuracy)
        ]
