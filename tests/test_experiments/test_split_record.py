"""SplitRecord: validation, subsets and tools/test.py dumps."""
import mmengine
import pytest
import torch

from mmlt.experiments import SplitRecord


def record(**kwargs):
    args = dict(
        split='val',
        logits=torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 3.0]]),
        labels=torch.tensor([0, 2]),
        train_class_counts=(50, 10, 5))
    args.update(kwargs)
    return SplitRecord(**args)


def test_valid_record_and_subset():
    rec = record(classes=['a', 'b', 'c'], features=torch.ones(2, 4))
    assert len(rec) == 2 and rec.num_classes == 3
    assert rec.classes == ('a', 'b', 'c')
    sub = rec.subset([1])
    assert sub.labels.tolist() == [2]
    assert sub.logits.tolist() == [[0.0, 1.0, 3.0]]
    assert sub.features.shape == (1, 4) and sub.split == 'val'


@pytest.mark.parametrize('kwargs, message', [
    (dict(logits=torch.zeros(0, 3)), r'shape \(N, C\) with N >= 1'),
    (dict(labels=torch.tensor([0])), 'labels must be int64 of shape'),
    (dict(labels=torch.tensor([0, 3])), r'labels in \[0, 3\], expected'),
    (dict(train_class_counts=(5, 5)), 'has 2 entries but the val logits'),
    (dict(classes=['a']), '1 class names for 3 classes'),
    (dict(features=torch.ones(3, 4)), r'features must have shape \(2, D\)'),
])
def test_bad_records_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        record(**kwargs)


def test_from_dump(tmp_path):
    # what MMEngine's DumpResults writes for a LogitsLinearClsHead model
    dump = [
        dict(gt_label=torch.tensor([1]), pred_score=torch.tensor([.2, .8]),
             pred_logits=torch.tensor([0.0, 1.5])),
        dict(gt_label=torch.tensor([0]), pred_score=torch.tensor([.6, .4]),
             pred_logits=torch.tensor([0.5, 0.1])),
    ]
    path = str(tmp_path / 'pred.pkl')
    mmengine.dump(dump, path)
    rec = SplitRecord.from_dump(path, [100, 3], classes=['x', 'y'])
    assert rec.split == 'test'
    assert rec.labels.tolist() == [1, 0]
    assert rec.logits.tolist() == [[0.0, 1.5], [0.5, pytest.approx(0.1)]]
    assert rec.train_class_counts == (100, 3)


def test_dump_without_logits_or_not_a_dump(tmp_path):
    path = str(tmp_path / 'pred.pkl')
    mmengine.dump([dict(gt_label=torch.tensor([1]),
                        pred_score=torch.tensor([.2, .8]))], path)
    with pytest.raises(ValueError, match=r'pred.pkl has no `pred_logits`'):
        SplitRecord.from_dump(path, [1, 1])
    mmengine.dump({'accuracy': 1.0}, path)
    with pytest.raises(ValueError,
                       match='expected a tools/test.py --out dump'):
        SplitRecord.from_dump(path, [1, 1])
