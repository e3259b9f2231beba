import time

import pytest
import torch
from mmengine.optim import OptimWrapper

from mmlt.experiments.throughput import synthetic_batch, training_throughput


class SleepingModel(torch.nn.Module):
    """``train_step`` takes ``seconds`` and counts its calls."""

    def __init__(self, seconds):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seconds = seconds
        self.calls = 0

    def train_step(self, data, optim_wrapper):
        self.calls += 1
        time.sleep(self.seconds)
        return {}


def test_synthetic_batch_layout_and_seed():
    batch = synthetic_batch(5, 8, 3, seed=1)
    assert batch['inputs'].shape == (5, 3, 8, 8)
    assert batch['inputs'].dtype == torch.uint8
    labels = [int(s.gt_label) for s in batch['data_samples']]
    assert len(labels) == 5 and all(0 <= y < 3 for y in labels)
    again = synthetic_batch(5, 8, 3, seed=1)
    assert torch.equal(batch['inputs'], again['inputs'])
    assert labels == [int(s.gt_label) for s in again['data_samples']]
    assert not torch.equal(batch['inputs'],
                           synthetic_batch(5, 8, 3, seed=2)['inputs'])


def test_images_per_second_of_a_known_step_time():
    model = SleepingModel(0.02)
    commits = []
    data = synthetic_batch(6, 4, 2)
    start = time.perf_counter()
    figures = training_throughput(
        model,
        OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1)),
        data,
        iterations=4,
        warmup=2,
        before_step=lambda: commits.append(0),
        after_step=lambda: commits.append(1))
    total = time.perf_counter() - start
    assert model.calls == 6 and commits == [0, 1] * 6
    # each timed iteration sleeps 20 ms; the timed part is within the total
    assert 20 <= figures['ms_per_iter'] <= 1000 * total / 4
    assert figures['images_per_s'] == pytest.approx(6 * 1000 /
                                                    figures['ms_per_iter'])
    assert figures['peak_memory_mib'] is None  # CPU


def test_bad_iterations():
    model = SleepingModel(0)
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match='iterations >= 1'):
        training_throughput(model, wrapper, synthetic_batch(1, 2, 2), 0)
    with pytest.raises(ValueError, match='warmup >= 0'):
        training_throughput(model, wrapper, synthetic_batch(1, 2, 2), 1, -1)
