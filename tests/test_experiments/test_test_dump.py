import os
import pickle
import pickletools

import mmengine
import numpy as np
import pytest
import torch
from mmengine.evaluator import DumpResults
from mmpretrain.structures import DataSample

from mmlt.evaluation.metrics import SampleCopyDumpResults
from mmlt.experiments import read_test_dump, write_test_dump
from mmlt.models.heads import LogitsLinearClsHead


def dump_of(head, features, labels, path, metric_type=DumpResults):
    """Predictions of ``head`` written by mmengine's DumpResults (each row a
    view of its batch) or tools/test.py --out's SampleCopyDumpResults, data
    samples turned into dicts as tools/test.py does."""
    metric = metric_type(out_file_path=str(path))
    for start in range(0, len(labels), 4):  # batches of 4
        samples = [
            DataSample().set_gt_label(int(y)) for y in labels[start:start + 4]
        ]
        with torch.no_grad():
            out = head.predict((features[start:start + 4], ), samples)
        metric.process(None, [s.to_dict() for s in out])
    metric.evaluate(len(labels))


@pytest.fixture
def features_and_labels():
    g = torch.Generator().manual_seed(0)
    return torch.randn(
        10, 8, generator=g), torch.randint(
            5, (10, ), generator=g)


@pytest.mark.parametrize('metric_type', [DumpResults, SampleCopyDumpResults])
def test_reads_scores_labels_and_logits_of_a_dump(tmp_path,
                                                  features_and_labels,
                                                  metric_type):
    features, labels = features_and_labels
    head = LogitsLinearClsHead(num_classes=5, in_channels=8)
    dump_of(head, features, labels, tmp_path / 'pred.pkl', metric_type)
    dump = read_test_dump(str(tmp_path / 'pred.pkl'))
    with torch.no_grad():
        logits = head.fc(features)
    np.testing.assert_allclose(dump['logits'], logits.numpy(), rtol=1e-6)
    np.testing.assert_allclose(
        dump['scores'], torch.softmax(logits, 1).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(dump['labels'], labels.numpy())
    assert dump['scores'].dtype == np.float32


def test_a_dump_without_logits_has_scores_only(tmp_path, features_and_labels):
    from mmpretrain.models.heads import LinearClsHead
    features, labels = features_and_labels
    dump_of(
        LinearClsHead(num_classes=5, in_channels=8), features, labels,
        tmp_path / 'pred.pkl')
    dump = read_test_dump(str(tmp_path / 'pred.pkl'))
    assert set(dump) == {'scores', 'labels'}
    assert dump['scores'].shape == (10, 5)


LONG_TEXT = 'z' * 1024  # one object, pickled once and then referred to


class RunsCode:

    def __reduce__(self):
        return (os.mkdir, ('should_not_exist', ))


@pytest.mark.parametrize(
    'content, message',
    [(dict(a=1), 'holds a dict; expected a tools/test.py --out dump'),
     ([], r'holds a list \(empty\)'),
     ([dict(gt_label=torch.tensor([1]))], 'sample 0 has no `pred_score`'),
     ([dict(pred_score=torch.ones(3))], 'sample 0 has no `gt_label`'),
     ([dict(pred_score=[0.5, 0.5], gt_label=torch.tensor([1]))],
      'sample 0 has a `pred_score` of type list; expected a tensor'),
     ([
         dict(pred_score=torch.ones(3), gt_label=torch.tensor([1])),
         dict(pred_score=torch.ones(4), gt_label=torch.tensor([1]))
     ], 'sample 1 has 4 `pred_score` values, sample 0 has 3'),
     ([
         dict(
             pred_score=torch.ones(3),
             pred_logits=torch.ones(3),
             gt_label=torch.tensor([1])),
         dict(pred_score=torch.ones(3), gt_label=torch.tensor([1]))
     ], '1 of 2 samples have `pred_logits`; expected all or none'),
     ([dict(pred_score=torch.ones(3), gt_label=torch.tensor([1, 0]))
       ], 'a `gt_label` of 2 values; expected one hard label'),
     ([dict(pred_score=torch.ones(3), gt_label=torch.tensor([3]))
       ], r'labels range over \[3, 3\] but the scores have 3 classes'),
     ([dict(a=LONG_TEXT, b=LONG_TEXT)],
      'cannot be unpickled .*memo entry 3 .* referred to again')])
def test_bad_dumps_are_refused(tmp_path, content, message):
    path = str(tmp_path / 'bad.pkl')
    mmengine.dump(content, path)
    with pytest.raises(ValueError, match=message):
        read_test_dump(path)


def test_a_pickle_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open('evil.pkl', 'wb') as f:
        pickle.dump([RunsCode()], f)
    with pytest.raises(ValueError, match='refers to posix.mkdir'):
        read_test_dump('evil.pkl')
    assert not os.path.exists('should_not_exist')


def test_not_a_pickle_or_missing_file(tmp_path):
    path = tmp_path / 'result.json'
    path.write_text('{"top1": 1}')
    with pytest.raises(ValueError, match='cannot be unpickled'):
        read_test_dump(str(path))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        read_test_dump(str(tmp_path / 'missing.pkl'))


def test_written_dump_is_what_dump_results_writes(tmp_path,
                                                  features_and_labels):
    features, labels = features_and_labels
    head = LogitsLinearClsHead(num_classes=5, in_channels=8)
    dump_of(head, features, labels, tmp_path / 'head.pkl')
    from_head = mmengine.load(str(tmp_path / 'head.pkl'))
    with torch.no_grad():
        logits = head.fc(features)
    scores = torch.softmax(logits, dim=1)
    write_test_dump(
        str(tmp_path / 'written.pkl'), scores.numpy(), labels.numpy(),
        logits.numpy())
    written = mmengine.load(str(tmp_path / 'written.pkl'))
    assert len(written) == len(from_head)
    for ours, theirs in zip(written, from_head):
        assert set(ours) <= set(theirs)
        for key in ('pred_score', 'pred_logits', 'gt_label', 'pred_label'):
            assert ours[key].shape == theirs[key].shape
            assert ours[key].dtype == theirs[key].dtype
            torch.testing.assert_close(ours[key], theirs[key])
    dump = read_test_dump(str(tmp_path / 'written.pkl'))
    np.testing.assert_array_equal(dump['scores'], scores.numpy())
    np.testing.assert_array_equal(dump['logits'], logits.numpy())
    # written without a memo, which would keep every storage's bytes
    with open(tmp_path / 'written.pkl', 'rb') as f:
        opcodes = {op.name for op, _, _ in pickletools.genops(f)}
    assert not opcodes & {'PUT', 'BINPUT', 'LONG_BINPUT', 'MEMOIZE'}
