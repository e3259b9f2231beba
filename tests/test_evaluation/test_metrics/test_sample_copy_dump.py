import os
import pickle
import pickletools
import tracemalloc

import mmengine
import pytest
import torch
from mmengine.evaluator import DumpResults
from mmengine.fileio import BaseStorageBackend, register_backend
from mmpretrain.structures import DataSample

from mmlt.evaluation import SampleCopyDumpResults
from mmlt.evaluation.metrics.sample_copy_dump import dump_without_memo


def batch_predictions(batch_size: int, num_classes: int, start: int):
    """Data samples as MMPretrain's heads make them (row views of the
    batch's tensors), as dicts as the evaluator passes them on."""
    generator = torch.Generator().manual_seed(start)
    logits = torch.randn(batch_size, num_classes, generator=generator)
    scores = logits.softmax(dim=1)
    samples = []
    for i in range(batch_size):
        sample = DataSample().set_gt_label((start + i) % num_classes)
        sample.set_pred_score(scores[i]).set_pred_label(scores[i].argmax())
        sample.pred_logits = logits[i]
        samples.append(sample.to_dict())
    return samples, scores, logits


def dump(metric_type, tmp_path, num_samples, batch_size, num_classes):
    path = str(tmp_path / f'{metric_type.__name__}_{num_samples}.pkl')
    metric = metric_type(out_file_path=path)
    scores, logits = [], []
    for start in range(0, num_samples, batch_size):
        samples, batch_scores, batch_logits = batch_predictions(
            batch_size, num_classes, start)
        metric.process({}, samples)
        scores.append(batch_scores)
        logits.append(batch_logits)
    metric.evaluate(num_samples)
    return path, torch.cat(scores), torch.cat(logits)


@pytest.mark.parametrize('num_samples', [200, 400])
def test_dump_is_linear_in_samples_times_classes(tmp_path, num_samples):
    batch_size, num_classes = 100, 10
    path, scores, logits = dump(SampleCopyDumpResults, tmp_path, num_samples,
                                batch_size, num_classes)
    # two float32 rows of C values per sample plus pickle's per-sample
    # overhead (~1.8 kB without a memo: each sample repeats the globals and
    # torch's storage header); not the B x C batch storage per row
    per_sample = os.path.getsize(path) / num_samples
    assert per_sample < 2 * num_classes * 4 + 2500
    view_path, _, _ = dump(DumpResults, tmp_path, num_samples, batch_size,
                           num_classes)
    assert os.path.getsize(view_path) / num_samples > 2 * batch_size * \
        num_classes * 4  # mmengine's own: each row writes its batch

    with open(path, 'rb') as f:
        samples = pickle.load(f)
    assert len(samples) == num_samples
    torch.testing.assert_close(
        torch.stack([s['pred_score'] for s in samples]), scores)
    torch.testing.assert_close(
        torch.stack([s['pred_logits'] for s in samples]), logits)
    assert [int(s['gt_label']) for s in samples] == [
        i % num_classes for i in range(num_samples)
    ]
    assert all(s['pred_score'].untyped_storage().nbytes() == num_classes * 4
               for s in samples)


def test_refuses_a_path_that_is_not_a_pickle(tmp_path):
    with pytest.raises(ValueError, match='pkl'):
        SampleCopyDumpResults(out_file_path=str(tmp_path / 'out.json'))


def test_writes_without_a_memo_and_mmengine_reads_it(tmp_path):
    """The file has no memo opcodes (so the writer kept no serialized copy
    per tensor alive), mmengine reads it, and the writing's peak of Python
    allocations stays under twice the file where ``mmengine.dump``
    (``DumpResults``) holds several copies."""
    num_samples, batch_size, num_classes = 400, 100, 500
    path, scores, logits = dump(SampleCopyDumpResults, tmp_path, num_samples,
                                batch_size, num_classes)
    with open(path, 'rb') as f:
        opcodes = {op.name for op, _, _ in pickletools.genops(f)}
    assert not opcodes & {'BINPUT', 'LONG_BINPUT', 'PUT', 'MEMOIZE'}
    samples = mmengine.load(path)
    torch.testing.assert_close(
        torch.stack([s['pred_logits'] for s in samples]), logits)

    results = [
        dict(pred_score=s['pred_score'], pred_logits=s['pred_logits'],
             gt_label=s['gt_label']) for s in samples
    ]
    peaks = {}
    for metric_type in (DumpResults, SampleCopyDumpResults):
        out = str(tmp_path / f'{metric_type.__name__}_peak.pkl')
        metric = metric_type(out_file_path=out)
        tracemalloc.start()
        metric.compute_metrics(results)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        peaks[metric_type.__name__] = peak / os.path.getsize(out)
    # with a memo every storage's bytes and latin-1 string stay alive, and
    # the file is buffered (about 5.6x the file here); without one, the
    # pickler's output buffer (grown by half at a time) and one storage's
    # temporaries
    assert peaks['DumpResults'] > 4, peaks
    assert peaks['SampleCopyDumpResults'] < 2, peaks


class _DictBackend(BaseStorageBackend):
    """A file backend that keeps what is put in a dict (for URIs
    ``dicttest://...``)."""
    files = {}

    def get(self, filepath):
        return self.files[filepath]

    def get_text(self, filepath, encoding='utf-8'):
        return self.files[filepath].decode(encoding)

    def put(self, obj, filepath):
        self.files[filepath] = bytes(obj)


def test_writes_through_another_file_backend():
    """A URI of another mmengine file backend gets the same pickle through
    the backend's ``put``."""
    register_backend('dicttest', _DictBackend, force=True, prefixes='dicttest')
    samples, scores, _ = batch_predictions(4, 3, 0)
    dump_without_memo(samples, 'dicttest://out/predictions.pkl')
    written = pickle.loads(
        _DictBackend.files['dicttest://out/predictions.pkl'])
    torch.testing.assert_close(
        torch.stack([s['pred_score'] for s in written]), scores)
