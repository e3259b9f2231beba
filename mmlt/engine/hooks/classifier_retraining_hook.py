import re
from typing import Dict, List, Optional, Tuple

import torch.nn as nn
from mmengine.dist import broadcast, get_world_size
from mmengine.hooks import Hook
from mmengine.model import BaseModule, is_model_wrapper
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class ClassifierRetrainingHook(Hook):
    """Start classifier re-training (stage 2 of decoupled training) from the
    stage-1 checkpoint.

    mmengine trains from scratch when ``load_from`` is unset, and loads a
    checkpoint of another architecture with a "missing keys" log line only; a
    stage-2 run on such features would silently re-train a classifier on a
    random backbone. This hook, used with :class:`FrozenFeatureClassifier`,
    makes both an error:

    - ``after_load_checkpoint``: record the keys and shapes of the loaded
      checkpoint's ``state_dict`` (``load_from``, or the checkpoint that a
      resumed run loads).
    - ``before_train`` (a training run, after mmengine has loaded the
      checkpoint): raise ``FileNotFoundError`` naming how to produce the
      stage-1 checkpoint if none was loaded (``load_from`` unset, or
      ``resume`` with no checkpoint in ``work_dir``), and ``ValueError``
      naming the keys if any backbone / neck parameter or buffer of the
      model is missing from the checkpoint or has another shape. Validation
      and test runs are not checked. Then, with ``reinit_head`` and a run
      that starts at iteration 0 (not a resumed one), re-initialise the
      head as when it was built: PyTorch's default ``reset_parameters`` of
      every layer, then the head's ``init_cfg``; in a distributed run every
      rank then takes rank 0's values.

    Args:
        reinit_head (bool): Re-initialise the head instead of fine-tuning the
            stage-1 classifier. Defaults to False.
        stage1_config (str, optional): The config that trains the stage-1
            model, named in the error message. Defaults to None.
    """
    priority = 'VERY_HIGH'
    frozen_prefixes = ('backbone.', 'neck.')

    def __init__(self,
                 reinit_head: bool = False,
                 stage1_config: Optional[str] = None) -> None:
        self.reinit_head = reinit_head
        self.stage1_config = stage1_config
        self.loaded_shapes: Optional[Dict[str, Tuple[int, ...]]] = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Record the keys and shapes of the loaded checkpoint."""
        state_dict = checkpoint.get('state_dict', checkpoint)
        self.loaded_shapes = {
            re.sub(r'^module\.', '', key): tuple(value.shape)
            for key, value in state_dict.items() if hasattr(value, 'shape')
        }

    def before_train(self, runner) -> None:
        """Check that the frozen features come from the loaded checkpoint;
        re-initialise the head at the start of a fresh stage-2 run."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        self._check_loaded(model, runner.work_dir)
        if not self.reinit_head or runner.iter != 0:
            return
        reinitialize(model.head)
        if get_world_size() > 1:  # every rank starts from rank 0's head
            for tensor in model.head.state_dict().values():
                broadcast(tensor, src=0)
        runner.logger.info('ClassifierRetrainingHook: re-initialised '
                           f'{type(model.head).__name__} for stage 2.')

    def _check_loaded(self, model: nn.Module, work_dir: str) -> None:
        if self.loaded_shapes is None:
            raise FileNotFoundError(
                'Classifier re-training (stage 2) needs the stage-1 '
                'checkpoint, but none was loaded: `load_from` is not set '
                f'(and, with resume, there is no checkpoint to resume in '
                f'{work_dir}). {self._how_to()}')
        missing, mismatched = [], []
        for key, value in model.state_dict().items():
            if not key.startswith(self.frozen_prefixes):
                continue
            shape = self.loaded_shapes.get(key)
            if shape is None:
                missing.append(key)
            elif shape != tuple(value.shape):
                mismatched.append(f'{key} (checkpoint {shape}, model '
                                  f'{tuple(value.shape)})')
        if missing or mismatched:
            raise ValueError(
                'The checkpoint loaded for classifier re-training (stage 2) '
                'does not hold the frozen backbone / neck of this model, so '
                'the head would be trained on random features. Missing: '
                f'{_listing(missing)}; other shape: {_listing(mismatched)}. '
                f'It must be a checkpoint of the stage-1 model. '
                f'{self._how_to()}')

    def _how_to(self) -> str:
        config = self.stage1_config or '<stage-1 config>'
        return ('Train stage 1 first, e.g. `python tools/train.py '
                f'{config}`, then pass its checkpoint with `--cfg-options '
                'load_from=work_dirs/<stage-1 run>/epoch_<N>.pth`.')


def _listing(keys: List[str], limit: int = 8) -> str:
    """``keys`` joined, the first ``limit`` of them, with the count."""
    if not keys:
        return 'none'
    more = f' and {len(keys) - limit} more' if len(keys) > limit else ''
    return f'{len(keys)} ({", ".join(keys[:limit])}{more})'


def reinitialize(module: nn.Module) -> None:
    """Re-initialise ``module`` as at construction: every layer's
    ``reset_parameters`` (PyTorch's default init), then the ``init_cfg`` of
    every :class:`BaseModule` inside it.

    Args:
        module (nn.Module): The module to re-initialise in place (the
            parameter tensors are kept, so optimizers still hold them).
    """
    for layer in module.modules():
        if hasattr(layer, 'reset_parameters'):
            layer.reset_parameters()
    if isinstance(module, BaseModule):
        for layer in module.modules():
            if isinstance(layer, BaseModule):
                layer.is_init = False
        module.init_weights()
