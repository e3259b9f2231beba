"""LogitsLinearClsHead (and the heads built on it) states the class count
once: a loss that takes ``num_classes`` gets the head's."""
import pytest
import torch
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmlt  # noqa: F401
from mmlt.models.losses import GALALoss

HEADS = [
    dict(type='LogitsLinearClsHead'),
    dict(type='RebalancedLinearClsHead'),
    dict(type='NormedLinearClsHead'),
]


def build(head, loss, num_classes=5):
    return MODELS.build(
        dict(head, num_classes=num_classes, in_channels=3, loss=loss))


@pytest.mark.parametrize('head', HEADS, ids=lambda h: h['type'])
@pytest.mark.parametrize('loss', ['GALALoss', 'LDAMLoss', 'LabelSmoothLoss'])
def test_loss_gets_the_heads_num_classes(head, loss):
    loss_cfg = dict(type=loss)
    if loss == 'LabelSmoothLoss':
        loss_cfg['label_smooth_val'] = 0.1
    built = build(head, loss_cfg)
    assert built.fc.out_features == 5
    assert built.loss_module.num_classes == 5
    assert 'num_classes' not in loss_cfg  # the config is not modified


@pytest.mark.parametrize('head', HEADS, ids=lambda h: h['type'])
def test_loss_num_classes_other_than_the_heads_is_refused(head):
    with pytest.raises(
            ValueError,
            match=rf"{head['type']}: the loss has num_classes=4 but the head "
            'has num_classes=5'):
        build(head, dict(type='GALALoss', num_classes=4))
    with pytest.raises(ValueError, match='num_classes=4 but the head'):
        build(head, GALALoss(4))  # a built loss is checked too
    # the same value twice is accepted
    assert build(head, dict(type='GALALoss',
                            num_classes=5)).loss_module.num_classes == 5


def test_losses_without_num_classes_are_unchanged():
    head = build(HEADS[0], dict(type='CrossEntropyLoss', loss_weight=0.5))
    assert head.loss_module.loss_weight == 0.5
    counts_later = build(HEADS[0], dict(type='LogitAdjustLoss'))
    assert counts_later.loss_module.num_classes == 5
    with pytest.raises(ValueError, match='has 4 entries'):
        counts_later.loss_module.set_class_counts([4, 3, 2, 1])


def test_predictions_carry_the_raw_logits():
    head = build(HEADS[0], dict(type='CrossEntropyLoss'))
    feats = (torch.randn(2, 3), )
    logits = head(feats)
    predictions = head.predict(feats, [DataSample(), DataSample()])
    for prediction, row in zip(predictions, logits):
        torch.testing.assert_close(prediction.pred_logits, row)
        torch.testing.assert_close(prediction.pred_score, row.softmax(0))
