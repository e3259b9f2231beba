from typing import List

from mmpretrain.models.tta import AverageClsScoreTTA
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample


@MODELS.register_module()
class AverageClsLogitsTTA(AverageClsScoreTTA):
    """:class:`AverageClsScoreTTA` that also averages the raw logits.

    MMPretrain's TTA model averages ``pred_score`` over the augmented views
    of a sample but copies every other field from the first view, so the
    ``pred_logits`` of :class:`LogitsLinearClsHead` would be those of one
    view only. This model also sets ``pred_logits`` to the mean logits of
    the views (so :class:`LogitsStatistics` measures the TTA prediction)
    and ``pred_label`` to the argmax of the mean score. The score is the
    mean of the views' softmax scores, as in MMPretrain.

    Use as ``tta_model = dict(type='AverageClsLogitsTTA')`` with a
    ``tta_pipeline`` whose ``TestTimeAug`` produces the views, e.g. the
    image and its horizontal flip; ``tools/test.py --tta`` applies both.
    """

    def _merge_single_sample(self,
                             data_samples: List[DataSample]) -> DataSample:
        """Merge the augmented views of one sample.

        Args:
            data_samples (List[DataSample]): The predictions of the views.

        Returns:
            DataSample: Mean ``pred_score`` and ``pred_logits`` of the views
            and ``pred_label`` the argmax of the mean score.
        """
        merged = super()._merge_single_sample(data_samples)
        merged.set_pred_label(merged.pred_score.argmax(dim=-1, keepdim=True))
        with_logits = ['pred_logits' in s for s in data_samples]
        if any(with_logits):
            if not all(with_logits):
                raise KeyError('AverageClsLogitsTTA: only some augmented '
                               'views carry `pred_logits`.')
            merged.set_field(
                sum(s.pred_logits for s in data_samples) / len(data_samples),
                'pred_logits')
        return merged
