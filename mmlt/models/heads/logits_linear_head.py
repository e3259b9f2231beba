import inspect
from typing import List, Optional, Union

import torch
import torch.nn as nn
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


def loss_with_num_classes(loss: Union[dict, nn.Module], num_classes: int,
                          head: str) -> Union[dict, nn.Module]:
    """The loss config of a head with the head's ``num_classes`` filled in,
    so that a config states the class count once.

    A loss whose type takes a ``num_classes`` argument (e.g.
    :class:`GALALoss`, the class-count losses) gets the head's when its
    config leaves it out; a config (or a built loss) that gives another
    value is an error naming both. Other losses are returned unchanged.

    Args:
        loss (dict | nn.Module): The head's ``loss`` argument.
        num_classes (int): The head's number of classes.
        head (str): Name of the head, for the error message.

    Returns:
        dict | nn.Module: ``loss``, or a copy of the config with
        ``num_classes``.
    """
    if isinstance(loss, nn.Module):
        given = getattr(loss, 'num_classes', None)
    else:
        loss_type = loss.get('type')
        loss_cls = loss_type if inspect.isclass(loss_type) else MODELS.get(
            loss_type)
        if loss_cls is None or 'num_classes' not in inspect.signature(
                loss_cls).parameters:
            return loss
        given = loss.get('num_classes')
        if given is None:
            return dict(loss, num_classes=num_classes)
    if given is not None and given != num_classes:
        raise ValueError(
            f'{head}: the loss has num_classes={given!r} but the head has '
            f'num_classes={num_classes}; leave num_classes out of the loss '
            'config, the head fills it in.')
    return loss


@MODELS.register_module()
class LogitsLinearClsHead(LinearClsHead):
    """A :class:`LinearClsHead` whose predictions also carry the raw logits.

    MMPretrain's heads hand metrics only ``pred_score = softmax(z)``. Logit
    diagnostics (e.g. :class:`LogitsStatistics`) need ``z`` itself, so this
    head stores it in every data sample as ``pred_logits`` next to the usual
    ``pred_score`` and ``pred_label``. Training is unchanged, except that a
    loss taking ``num_classes`` gets the head's
    (:func:`loss_with_num_classes`).

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Number of input channels.
        loss (dict | nn.Module): The loss. Defaults to cross-entropy.
        **kwargs: Other arguments of
            :class:`mmpretrain.models.heads.LinearClsHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 loss: Union[dict, nn.Module] = dict(
                     type='CrossEntropyLoss', loss_weight=1.0),
                 **kwargs) -> None:
        super().__init__(
            num_classes,
            in_channels,
            loss=loss_with_num_classes(loss, num_classes, type(self).__name__),
            **kwargs)

    def _get_predictions(
            self, cls_score: torch.Tensor,
            data_samples: Optional[List[Optional[DataSample]]]
    ) -> List[DataSample]:
        predictions = super()._get_predictions(cls_score, data_samples)
        for prediction, logits in zip(predictions, cls_score.detach()):
            prediction.set_field(logits, 'pred_logits')
        return predictions
