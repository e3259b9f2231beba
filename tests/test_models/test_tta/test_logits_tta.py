import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmlt  # noqa: F401


def view(logits, label):
    sample = DataSample().set_gt_label(label)
    sample.set_pred_score(torch.softmax(logits, dim=0))
    sample.set_pred_label(logits.argmax(keepdim=True))
    sample.set_field(logits, 'pred_logits')
    return sample


def test_averages_scores_and_logits():
    tta = MODELS.build(
        dict(
            type='AverageClsLogitsTTA',
            module=MODELS.build(
                dict(
                    type='ImageClassifier',
                    backbone=dict(type='CifarResNet', depth=8)))))
    original = torch.tensor([2.0, 1.9, -1.0])
    flipped = torch.tensor([0.0, 3.0, -1.0])
    merged, = tta.merge_preds([[view(original, 1), view(flipped, 1)]])
    torch.testing.assert_close(merged.pred_logits, (original + flipped) / 2)
    torch.testing.assert_close(
        merged.pred_score,
        (torch.softmax(original, 0) + torch.softmax(flipped, 0)) / 2)
    # MMPretrain's AverageClsScoreTTA keeps the first view's label (0).
    assert merged.pred_label.tolist() == [1]
    assert merged.gt_label.tolist() == [1]
