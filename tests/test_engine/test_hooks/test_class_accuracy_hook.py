import glob
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from toy_long_tail_runner import TOY_COUNTS, ToyLongTailDataset, build_runner

from mmlt.engine.hooks import ClassAccuracyHook

CE = dict(type='CrossEntropyLoss')


def _validated_runner(tmp_path, evaluator, hooks, name):
    val = dict(
        val_dataloader=dict(
            dataset=dict(type='ToyLongTailDataset'),
            batch_size=3,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False)),
        val_cfg=dict(),
        val_evaluator=evaluator,
        visualizer=dict(
            type='Visualizer', vis_backends=[dict(type='LocalVisBackend')]))
    return build_runner(
        tmp_path, loss=CE, custom_hooks=hooks, max_epochs=2, name=name,
        **val)


def _logged_scalars(work_dir):
    (path, ) = glob.glob(osp.join(str(work_dir), '*', 'vis_data',
                                  'scalars.json'))
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_logs_per_class_accuracy_after_each_validation(tmp_path):
    runner = _validated_runner(
        tmp_path, dict(type='LongTailAccuracy', many_shot_thr=5,
                       low_shot_thr=2), [dict(type='ClassAccuracyHook')],
        'class_acc')
    runner.train()
    logged = [entry for entry in _logged_scalars(tmp_path)
              if any('/class_acc/' in key for key in entry)]
    assert [entry['step'] for entry in logged] == [1, 2]
    keys = {'long-tail/class_acc/0_a', 'long-tail/class_acc/1_b',
            'long-tail/class_acc/2_c'}
    assert set(logged[-1]) == keys | {'step'}

    # Independent reference: the final model's predictions, counted per
    # class with a loop.
    dataset = ToyLongTailDataset()
    batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        predicted = [int(s.pred_label) for s in runner.model.val_step(batch)]
    for c, name in enumerate('abc'):
        members = [i for i, label in enumerate(dataset.labels) if label == c]
        expected = 100 * np.mean([predicted[i] == c for i in members])
        assert logged[-1][f'long-tail/class_acc/{c}_{name}'] == (
            pytest.approx(expected))
    assert len(members) == TOY_COUNTS[2]


def test_warns_on_a_validation_without_long_tail_metric(tmp_path, capsys):
    runner = _validated_runner(
        tmp_path, dict(type='Accuracy'), [dict(type='ClassAccuracyHook')],
        'class_acc_no_metric')
    runner.train()
    assert ('but the val_evaluator has none' in capsys.readouterr().out)
    assert not [entry for entry in _logged_scalars(tmp_path)
                if any('/class_acc/' in key for key in entry)]


def test_without_validation_it_does_nothing(tmp_path):
    runner = build_runner(tmp_path, loss=CE,
                          custom_hooks=[ClassAccuracyHook()], name='no_val')
    runner.train()  # no error, no val loop
