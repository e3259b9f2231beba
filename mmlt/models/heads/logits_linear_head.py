from typing import List, Optional

import torch
import torch.nn.functional as F
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
        return self._pack_predictions(cls_score, F.softmax(cls_score, dim=1),
                                      data_samples)

    @staticmethod
    def _pack_predictions(
            logits: torch.Tensor, scores: torch.Tensor,
            data_samples: Optional[List[Optional[DataSample]]]
    ) -> List[DataSample]:
        """Set ``pred_logits``, ``pred_score`` and ``pred_label`` (argmax of
        ``scores``) on each data sample, creating them if needed."""
        labels = scores.argmax(dim=1, keepdim=True).detach()
        if data_samples is None:
            data_samples = [None] * scores.size(0)
        out = []
        for data_sample, logit, score, label in zip(data_samples, logits,
                                                     scores, labels):
            if data_sample is None:
                data_sample = DataSample()
            data_sample.set_pred_score(score).set_pred_label(label)
            data_sample.set_field(logit.detach(), 'pred_logits')
            out.append(data_sample)
        return out
