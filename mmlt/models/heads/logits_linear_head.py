from typing import List, Optional

import torch
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class LogitsLinearClsHead(LinearClsHead):
    """A :class:`LinearClsHead` whose predictions also carry the raw logits.

    MMPretrain's heads hand metrics only ``pred_score = softmax(z)``. Logit
    diagnostics (e.g. :class:`LogitsStatistics`) need ``z`` itself, so this
    head stores it in every data sample as ``pred_logits`` next to the usual
    ``pred_score`` and ``pred_label``. Training is unchanged.

    Args: see :class:`mmpretrain.models.heads.LinearClsHead`.
    """

    def _get_predictions(
            self, cls_score: torch.Tensor,
            data_samples: Optional[List[Optional[DataSample]]]
    ) -> List[DataSample]:
        predictions = super()._get_predictions(cls_score, data_samples)
        for prediction, logits in zip(predictions, cls_score.detach()):
            prediction.set_field(logits, 'pred_logits')
        return predictions
