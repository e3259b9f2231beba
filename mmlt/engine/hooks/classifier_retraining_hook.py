import os.path as osp
from typing import Optional

import torch.nn as nn
from mmengine.dist import broadcast, get_world_size
from mmengine.hooks import Hook
from mmengine.model import BaseModule, is_model_wrapper
from mmengine.runner.checkpoint import find_latest_checkpoint
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class ClassifierRetrainingHook(Hook):
    """Start classifier re-training (stage 2 of decoupled training) from the
    stage-1 checkpoint.

    mmengine trains from scratch when ``load_from`` is unset and only says
    "can not be found" for a missing file; a stage-2 run without the stage-1
    weights would silently re-train a classifier on random features. This
    hook, used with :class:`FrozenFeatureClassifier`, makes both an error:

    - ``before_run`` of a training run: raise ``FileNotFoundError`` naming
      the path and how to produce it if no checkpoint will be loaded:
      ``load_from`` unset (and, with ``resume``, no checkpoint in
      ``work_dir``) or a local ``load_from`` file that does not exist.
      URLs and other remote schemes are left to mmengine's loader.
      Validation and test runs are not checked.
    - ``before_train`` (after mmengine has loaded ``load_from``): with
      ``reinit_head`` and a run that starts at iteration 0 (not a resumed
      one), re-initialise the head as when it was built: PyTorch's default
      ``reset_parameters`` of every layer, then the head's ``init_cfg``;
      in a distributed run every rank then takes rank 0's values.

    Args:
        reinit_head (bool): Re-initialise the head instead of fine-tuning the
            stage-1 classifier. Defaults to False.
        stage1_config (str, optional): The config that trains the stage-1
            model, named in the error message. Defaults to None.
    """
    priority = 'VERY_HIGH'

    def __init__(self,
                 reinit_head: bool = False,
                 stage1_config: Optional[str] = None) -> None:
        self.reinit_head = reinit_head
        self.stage1_config = stage1_config

    def before_run(self, runner) -> None:
        """Raise if a training run would not load a stage-1 checkpoint."""
        if isinstance(runner._train_loop, dict) or runner._train_loop is None:
            return  # validation / test run
        load_from = runner._load_from
        if load_from is None:
            if runner._resume and find_latest_checkpoint(
                    runner.work_dir) is not None:
                return  # auto-resume of an interrupted stage-2 run
            raise FileNotFoundError(
                'Classifier re-training (stage 2) needs the stage-1 '
                'checkpoint, but `load_from` is not set'
                f'{self._resume_note(runner)}. {self._how_to()}')
        if '://' not in load_from and not osp.isfile(
                osp.expanduser(load_from)):
            what = ('checkpoint to resume'
                    if runner._resume else 'stage-1 checkpoint')
            raise FileNotFoundError(
                f'The {what} load_from={load_from!r} does not exist. '
                f'{self._how_to()}')

    def before_train(self, runner) -> None:
        """Re-initialise the head at the start of a fresh stage-2 run."""
        if not self.reinit_head or runner.iter != 0:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        reinitialize(model.head)
        if get_world_size() > 1:  # every rank starts from rank 0's head
            for tensor in model.head.state_dict().values():
                broadcast(tensor, src=0)
        runner.logger.info('ClassifierRetrainingHook: re-initialised '
                           f'{type(model.head).__name__} for stage 2.')

    def _how_to(self) -> str:
        config = self.stage1_config or '<stage-1 config>'
        return ('Train stage 1 first, e.g. `python tools/train.py '
                f'{config}`, then pass its checkpoint with `--cfg-options '
                'load_from=work_dirs/<stage-1 run>/epoch_<N>.pth`.')

    @staticmethod
    def _resume_note(runner) -> str:
        if runner._resume:
            return (' and there is no checkpoint to resume in '
                    f'{runner.work_dir}')
        return ''


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
