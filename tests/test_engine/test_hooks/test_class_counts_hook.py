from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from toy_long_tail_runner import TOY_COUNTS, ToyLongTailDataset, build_runner

from mmlt.engine.hooks import ClassCountsHook
from mmlt.models.losses import BalancedSoftmaxLoss, LDAMLoss, LogitAdjustLoss


def fake_runner(model, dataset):
    return SimpleNamespace(
        model=model, train_dataloader=SimpleNamespace(dataset=dataset))


def test_fills_counts_in_a_training_run(tmp_path):
    runner = build_runner(
        tmp_path,
        loss=dict(type='BalancedSoftmaxLoss'),
        custom_hooks=[dict(type='ClassCountsHook')],
        name='class_counts_run')
    runner.train()
    loss = runner.model.head.loss_module
    assert loss.class_counts.tolist() == list(TOY_COUNTS)
    counts = torch.tensor(TOY_COUNTS).double()
    torch.testing.assert_close(loss.logit_adjustment,
                               (counts / counts.sum()).log().float())


def test_fills_every_consumer_and_keeps_matching_explicit_counts():
    model = nn.ModuleDict(
        dict(
            la=LogitAdjustLoss(),
            bs=BalancedSoftmaxLoss(class_counts=TOY_COUNTS),
            ldam=LDAMLoss()))
    ClassCountsHook().before_train(fake_runner(model, ToyLongTailDataset()))
    for loss in model.values():
        assert loss.class_counts.tolist() == list(TOY_COUNTS)


def test_explicit_counts_contradicting_the_dataset():
    model = nn.ModuleDict(dict(la=LogitAdjustLoss(class_counts=[5, 3, 1])))
    with pytest.raises(ValueError, match='differ from the train dataset'):
        ClassCountsHook().before_train(
            fake_runner(model, ToyLongTailDataset()))


def test_dataset_without_counts():
    model = nn.ModuleDict(dict(la=LogitAdjustLoss()))
    with pytest.raises(ValueError, match='ClassCountsHook needs the training '
                       'images per class.*no `train_class_counts`'):
        ClassCountsHook().before_train(
            fake_runner(model, ToyLongTailDataset(with_counts=False)))


class _LabelledToyDataset(ToyLongTailDataset):
    """The toy training set without metainfo counts, with its labels."""

    def get_gt_labels(self):
        return self.labels


def test_counts_from_the_labels_of_a_dataset_without_metainfo_counts():
    model = nn.ModuleDict(dict(la=LogitAdjustLoss()))
    ClassCountsHook().before_train(
        fake_runner(model, _LabelledToyDataset(with_counts=False)))
    assert model['la'].class_counts.tolist() == list(TOY_COUNTS)


def test_model_without_consumer():
    with pytest.raises(ValueError, match='no module with a `set_class_counts'):
        ClassCountsHook().before_train(
            fake_runner(nn.Linear(2, 2), ToyLongTailDataset()))


def test_labels_checked_on_the_host_before_each_iteration():
    model = nn.ModuleDict(dict(la=LogitAdjustLoss()))
    hook = ClassCountsHook()
    hook.before_train(fake_runner(model, ToyLongTailDataset()))
    dataset = ToyLongTailDataset()
    batch = dict(data_samples=[dataset[i]['data_samples'] for i in (0, 9)])
    hook.before_train_iter(None, 0, batch)
    batch['data_samples'][1].set_gt_label(3).set_metainfo(
        dict(sample_idx=9))
    with pytest.raises(
            ValueError,
            match=r'LogitAdjustLoss: training label 3 of sample 9 is outside '
            r'the class range \[0, 3\) \(num_classes=3\)'):
        hook.before_train_iter(None, 1, batch)
