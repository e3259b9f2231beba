"""On CUDA, a training step of every mmlt loss (and GALA's hook) runs
without a host synchronisation: torch raises on any synchronising call under
``torch.cuda.set_sync_debug_mode('error')``. Skipped without CUDA."""
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub

from mmlt.engine.hooks import AccumulatedGradientHook
from mmlt.models.losses import (BalancedSoftmaxLoss, GALALoss, LDAMLoss,
                                LogitAdjustLoss, LORTLoss)

pytestmark = pytest.mark.cuda
COUNTS = (300, 101, 100, 20, 19, 4)


def build_losses():
    ldam = LDAMLoss(drw_start_epoch=0, scale=1.0, class_counts=COUNTS)
    ldam.set_epoch(1)
    return dict(
        gala_triton=GALALoss(6, 1.2, 0.9, backend='triton'),
        gala_torch=GALALoss(6, 1.2, 0.9, backend='torch'),
        gala_released=GALALoss(6, variant='released_code'),
        lort=LORTLoss(0.98),
        lort_torch=LORTLoss(0.98, backend='torch'),
        logit_adjust=LogitAdjustLoss(class_counts=COUNTS),
        balanced_softmax=BalancedSoftmaxLoss(class_counts=COUNTS),
        ldam=ldam)


class Model(nn.Module):

    def __init__(self, loss):
        super().__init__()
        self.fc = nn.Linear(8, 6)
        self.loss = loss


@pytest.mark.parametrize('name', sorted(build_losses()))
@pytest.mark.parametrize('dtype', [torch.float32, torch.float16])
def test_training_step_has_no_host_sync(name, dtype):
    torch.manual_seed(0)
    model = Model(build_losses()[name]).cuda().train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    hook = AccumulatedGradientHook(interval=10**6)
    runner = SimpleNamespace(
        model=model,
        train_dataloader=SimpleNamespace(
            dataset=SimpleNamespace(metainfo=dict(train_class_counts=COUNTS))),
        message_hub=MessageHub.get_instance(f'sync_free_{name}'),
        iter=0)
    is_gala = isinstance(model.loss, GALALoss)
    if is_gala:
        hook.before_train(runner)
    features = torch.randn(16, 8, device='cuda')
    labels = torch.randint(0, 6, (16, ), device='cuda')

    def step(it):
        runner.iter = it
        with torch.autocast(
                'cuda', dtype=dtype, enabled=dtype != torch.float32):
            value = model.loss(model.fc(features), labels)
        value.backward()
        optimizer.step()
        optimizer.zero_grad()
        if is_gala:
            hook.after_train_iter(runner, it)
        return value

    step(0)  # first calls: kernel compilation, lazy initialisation
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode('error')
    try:
        for it in range(1, 3):
            value = step(it)
    finally:
        torch.cuda.set_sync_debug_mode('default')
    assert torch.isfinite(value).item()
    if is_gala:
        hook.after_train(runner)
        assert model.loss.theta.sum().item() > 0


def test_wrong_label_on_the_device_fails_the_run():
    """The device-side label check fails the CUDA context, so it runs in a
    child process; the error surfaces at the next synchronisation."""
    code = ('import torch; from mmlt.models.losses import GALALoss; '
            "z = torch.randn(2, 6, device='cuda'); "
            "GALALoss(6)(z, torch.tensor([0, 6], device='cuda')); "
            'torch.cuda.synchronize()')
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True,
                            text=True,
                            timeout=600)
    assert result.returncode != 0
    assert ('outside the class range' in result.stderr
            or 'device-side assert' in result.stderr), result.stderr[-2000:]
