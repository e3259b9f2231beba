import os
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
import torch.nn as nn
from mmengine.logging import MessageHub
from torch.distributed.elastic.utils.distributed import get_free_port

from mmlt.engine.hooks import AccumulatedGradientHook
from mmlt.models.losses import GALALoss

# many x2 (> 100), medium x2 (20..100, both edges), few x2 (< 20)
COUNTS = (300, 101, 100, 20, 19, 4)


class Wrapper(nn.Module):
    """Stands in for any model wrapper: the loss sits a few levels deep."""

    def __init__(self, loss):
        super().__init__()
        self.module = nn.ModuleDict(dict(head=nn.ModuleDict(dict(loss=loss))))


def make_runner(model, name, counts=COUNTS, it=0):
    dataset = SimpleNamespace(metainfo=dict(train_class_counts=counts))
    return SimpleNamespace(
        model=model,
        train_dataloader=SimpleNamespace(dataset=dataset),
        message_hub=MessageHub.get_instance(name),
        iter=it)


def test_commit_happens_in_after_train_iter():
    torch.manual_seed(0)
    loss = GALALoss(6).train()
    reference = GALALoss(6).train()  # stand-alone commits
    hook = AccumulatedGradientHook(interval=2)
    runner = make_runner(Wrapper(loss), 'gala_hook_commit')
    hook.before_train(runner)
    assert loss.sync_by_hook

    for it in range(3):
        runner.iter = it
        logits = torch.randn(8, 6)
        labels = torch.randint(0, 6, (8, ))
        # two forwards in one iteration (e.g. two losses calls) both use the
        # statistics committed before the iteration
        first = loss(logits[:4], labels[:4])
        before = loss.theta.clone()
        second = loss(logits[4:], labels[4:])
        assert torch.equal(loss.theta, before)
        expected = reference(logits, labels, reduction_override='none')
        torch.testing.assert_close(
            torch.stack([first, second]),
            torch.stack([expected[:4].mean(), expected[4:].mean()]))
        hook.after_train_iter(runner, it)
        torch.testing.assert_close(loss.theta, reference.theta)
        torch.testing.assert_close(loss.phi, reference.phi)
        torch.testing.assert_close(loss.negative_received,
                                   reference.negative_received)
    hook.after_train(runner)
    assert not loss.sync_by_hook


def test_logs_ratio_by_shot_group():
    loss = GALALoss(6)
    loss.theta.copy_(torch.tensor([6.0, 4.0, 3.0, 1.0, 1.0, 0.5]))
    loss.negative_received.copy_(torch.tensor([2.0, 4.0, 6.0, 4.0, 4.0, 0.0]))
    hook = AccumulatedGradientHook(interval=2)
    runner = make_runner(Wrapper(loss), 'gala_hook_log', it=1)
    hook.before_train(runner)
    hook.after_train_iter(runner, 1)  # iter 2: logs
    scalars = runner.message_hub.log_scalars
    assert scalars['train/gala/pos_neg_ratio_many'].current() == \
        pytest.approx((3.0 + 1.0) / 2)
    # counts 100 and 20: both edges of the medium group
    assert scalars['train/gala/pos_neg_ratio_medium'].current() == \
        pytest.approx((0.5 + 0.25) / 2)
    # class 5 has received no negative gradient yet: left out of the mean
    assert scalars['train/gala/pos_neg_ratio_few'].current() == \
        pytest.approx(0.25)

    runner2 = make_runner(Wrapper(GALALoss(6)), 'gala_hook_nolog', it=2)
    hook.before_train(runner2)
    hook.after_train_iter(runner2, 2)  # iter 3: no log
    assert 'train/gala/pos_neg_ratio_many' not in \
        runner2.message_hub.log_scalars


def test_class_counts_fallback_and_errors():
    hook = AccumulatedGradientHook()
    dataset = SimpleNamespace(metainfo={}, get_gt_labels=lambda: [0, 0, 2])
    runner = SimpleNamespace(
        model=Wrapper(GALALoss(4)),
        train_dataloader=SimpleNamespace(dataset=dataset))
    hook.before_train(runner)
    assert hook.groups['few'].tolist() == [True] * 4

    with pytest.raises(
            ValueError, match='6 classes but GALALoss has '
            'num_classes=5'):
        hook.before_train(make_runner(Wrapper(GALALoss(5)), 'gala_bad'))
    with pytest.raises(RuntimeError, match='found no GALALoss'):
        hook.before_train(make_runner(nn.Linear(2, 2), 'gala_none'))
    with pytest.raises(ValueError, match='interval'):
        AccumulatedGradientHook(interval=0)


def _worker(rank, world_size, port, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch_dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        torch.manual_seed(0)
        batches = [(torch.randn(8, 5), torch.randint(0, 5, (8, )))
                   for _ in range(3)]
        loss = GALALoss(5, 1.2, 0.9).train()
        hook = AccumulatedGradientHook()
        runner = make_runner(
            Wrapper(loss), f'gala_dist_{rank}', counts=(200, 90, 40, 10, 3))
        hook.before_train(runner)
        for it, (logits, labels) in enumerate(batches):
            runner.iter = it
            half = slice(rank * 4, rank * 4 + 4)  # each rank: half a batch
            loss(logits[half], labels[half])
            hook.after_train_iter(runner, it)
        torch.save(
            dict(
                theta=loss.theta,
                phi=loss.phi,
                received=loss.negative_received),
            os.path.join(out_dir, f'rank{rank}.pth'))
    finally:
        torch_dist.destroy_process_group()


def test_statistics_are_summed_over_ranks(tmp_path):
    mp.spawn(
        _worker,
        args=(2, get_free_port(), str(tmp_path)),
        nprocs=2,
        join=True)
    ranks = [torch.load(tmp_path / f'rank{r}.pth') for r in range(2)]
    for key in ('theta', 'phi', 'received'):
        assert torch.equal(ranks[0][key], ranks[1][key])

    # a single process seeing the whole global batches
    torch.manual_seed(0)
    batches = [(torch.randn(8, 5), torch.randint(0, 5, (8, )))
               for _ in range(3)]
    single = GALALoss(5, 1.2, 0.9).train()
    for logits, labels in batches:
        single(logits, labels)
    torch.testing.assert_close(
        ranks[0]['theta'], single.theta, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        ranks[0]['phi'], single.phi, rtol=1e-12, atol=1e-12)
    # theta and phi add per-sample sums, so splitting the batch over ranks
    # changes them only by float64 rounding; negative_received adds a float32
    # sum over the samples of each rank
    torch.testing.assert_close(
        ranks[0]['received'], single.negative_received, rtol=1e-6, atol=0)
