"""LongTailCheckHook: errors before the first iteration, on a toy run."""
import os.path as osp

import pytest
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS
from toy_long_tail_runner import ToyLongTailDataset, build_runner

import mmlt  # noqa: F401  (registers LongTailCheckHook)

CE = dict(type='CrossEntropyLoss')
CHECK = dict(type='LongTailCheckHook')
TOY_MODEL = dict(  # the model of toy_long_tail_runner.build_runner
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor'),
    backbone=dict(type='ToyFlatBackbone'),
    head=dict(type='LinearClsHead', num_classes=3, in_channels=4, loss=CE))


@DATASETS.register_module(force=True)
class ToyOtherProfileDataset(ToyLongTailDataset):
    """The toy data, reporting the counts of another long-tailed profile."""

    def __init__(self, counts=(6, 2, 1)) -> None:
        super().__init__()
        self.metainfo['train_class_counts'] = tuple(counts)


class IterationRecorder(Hook):

    def __init__(self) -> None:
        self.iterations = 0

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.iterations += 1


def _loader(dataset):
    return dict(dataset=dataset, batch_size=5, num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=False))


def _runner(tmp_path, name, val_dataset=dict(type='ToyLongTailDataset'),
            evaluator=dict(type='LongTailAccuracy'), **kwargs):
    recorder = IterationRecorder()
    runner = build_runner(
        tmp_path, loss=CE, custom_hooks=[CHECK, recorder], name=name,
        val_dataloader=_loader(val_dataset), val_cfg=dict(),
        val_evaluator=evaluator, **kwargs)
    return runner, recorder


def test_head_num_classes_differing_from_the_data(tmp_path):
    runner, recorder = _runner(tmp_path, 'num_classes', num_classes=5)
    with pytest.raises(ValueError,
                       match=r'model.head.num_classes=5 but the '
                       r'train_dataloader dataset \(ToyLongTailDataset\) has '
                       '3 classes'):
        runner.train()
    assert recorder.iterations == 0


def test_logits_metric_needs_a_head_that_keeps_logits(tmp_path):
    evaluator = [dict(type='LongTailAccuracy'), dict(type='LogitsStatistics')]
    runner, recorder = _runner(tmp_path, 'no_logits', evaluator=evaluator)
    with pytest.raises(ValueError,
                       match='LogitsStatistics in val_evaluator reads the raw '
                       r'logits \(`pred_logits`\), but the head LinearClsHead '
                       'does not keep them'):
        runner.train()
    assert recorder.iterations == 0
    runner, recorder = _runner(tmp_path, 'logits', evaluator=evaluator,
                               head_type='LogitsLinearClsHead')
    runner.train()
    assert recorder.iterations == 3  # 10 samples, batch 4


def test_val_split_with_another_profile(tmp_path):
    runner, recorder = _runner(
        tmp_path, 'val_profile',
        val_dataset=dict(type='ToyOtherProfileDataset'))
    with pytest.raises(ValueError,
                       match=r'The val_dataloader dataset '
                       r'\(ToyOtherProfileDataset\) reports '
                       r'train_class_counts \[6, 2, 1\], but the train '
                       r'dataset \(train_dataloader\) has \[6, 3, 1\] \(first '
                       r'differing class: 1\)'):
        runner.train()
    assert recorder.iterations == 0


def test_checkpoint_counts_checked_when_testing(tmp_path):
    runner, _ = _runner(tmp_path / 'train', 'ckpt_train')
    runner.train()
    checkpoint = osp.join(str(tmp_path / 'train'), 'epoch_1.pth')

    def test_run(dataset, name):
        return Runner(
            model=TOY_MODEL, work_dir=str(tmp_path / name),
            experiment_name=name, load_from=checkpoint,
            test_dataloader=_loader(dataset), test_cfg=dict(),
            test_evaluator=dict(type='LongTailAccuracy'),
            default_hooks=dict(long_tail_check=CHECK),
            default_scope='mmpretrain', log_level='WARNING')

    metrics = test_run(dict(type='ToyLongTailDataset'), 'same').test()
    assert 'long-tail/few' in metrics
    with pytest.raises(ValueError,
                       match=r'The test_dataloader dataset '
                       r'\(ToyOtherProfileDataset\) reports '
                       r'train_class_counts \[6, 2, 1\], but the checkpoint '
                       r'\(its training set\) has \[6, 3, 1\]'):
        test_run(dict(type='ToyOtherProfileDataset'), 'other').test()
