"""Training throughput of a model on a synthetic batch."""
import time
from typing import Callable, Dict, Optional

import torch
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from .timing import synchronize


def synthetic_batch(batch_size: int,
                    image_size: int,
                    num_classes: int,
                    device: str = 'cpu',
                    seed: int = 0) -> dict:
    """A seeded batch of uint8 images and labels in the layout of
    :class:`~mmpretrain.datasets.PackInputs` + ``default_collate``.

    Args:
        batch_size (int): Images in the batch.
        image_size (int): Height and width (3 channels).
        num_classes (int): Labels are uniform in ``[0, num_classes)``.
        device (str): Where the images are placed, so that timing excludes
            the host-to-device copy. Defaults to 'cpu'.
        seed (int): Seed of the images and labels. Defaults to 0.

    Returns:
        dict: ``inputs`` (B, 3, H, W) uint8 and ``data_samples``.
    """
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(
        0,
        256, (batch_size, 3, image_size, image_size),
        dtype=torch.uint8,
        generator=generator)
    labels = torch.randint(0, num_classes, (batch_size, ), generator=generator)
    return dict(
        inputs=images.to(device),
        data_samples=[DataSample().set_gt_label(int(y)) for y in labels])


def training_throughput(
        model: torch.nn.Module,
        optim_wrapper: OptimWrapper,
        data: dict,
        iterations: int,
        warmup: int = 3,
        before_step: Optional[Callable[[], None]] = None,
        after_step: Optional[Callable[[], None]] = None) -> Dict[str, float]:
    """Images per second of ``model.train_step`` on one batch.

    Runs ``warmup`` untimed iterations, then times ``iterations`` iterations
    (``before_step``, ``model.train_step(data, optim_wrapper)`` and
    ``after_step``, e.g. a hook's label check and commit) between two device
    synchronisations:
    ``images/s = iterations * batch / elapsed``.

    Args:
        model (torch.nn.Module): A model in train mode, on its device.
        optim_wrapper (OptimWrapper): Its optimizer wrapper (an
            ``AmpOptimWrapper`` for mixed precision).
        data (dict): The batch (see :func:`synthetic_batch`).
        iterations (int): Timed iterations, >= 1.
        warmup (int): Untimed iterations before, >= 0. Defaults to 3.
        before_step (callable, optional): Called before each
            ``train_step``.
        after_step (callable, optional): Called after each ``train_step``.

    Returns:
        dict: ``images_per_s``, ``ms_per_iter`` and, on CUDA,
        ``peak_memory_mib`` (``torch.cuda.max_memory_allocated`` over the
        timed iterations), else None.
    """
    if iterations < 1 or warmup < 0:
        raise ValueError('training_throughput needs iterations >= 1 and '
                         f'warmup >= 0, got {iterations} and {warmup}.')
    device = next(model.parameters()).device
    batch_size = len(data['data_samples'])

    def step():
        if before_step is not None:
            before_step()
        model.train_step(data, optim_wrapper)
        if after_step is not None:
            after_step()

    for _ in range(warmup):
        step()
    synchronize(device.type)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(iterations):
        step()
    synchronize(device.type)
    elapsed = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated(device) /
        2**20 if device.type == 'cuda' else None)
    return dict(
        images_per_s=iterations * batch_size / elapsed,
        ms_per_iter=1000 * elapsed / iterations,
        peak_memory_mib=peak)
