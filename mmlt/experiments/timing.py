"""The timing and memory harness of the benchmarks: ratios measured in one
process, with the variants interleaved.

Every repetition times each variant once, in an order rotated by one per
repetition, so that slow drift (other processes on a shared machine,
clock boost) hits all of them alike; figures are medians over repetitions
of the per-repetition ratio :math:`t_v / t_{\\mathrm{baseline}}`. Two clocks
are read: the elapsed time (``wall``) and the process CPU time (``cpu``),
which time slices lost to other processes do not inflate. On CUDA the
device is synchronised around each timed block.
"""
import gc
import math
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch

Samples = Dict[str, Dict[str, List[float]]]


def synchronize(device: str) -> None:
    """Wait for the kernels of ``device`` (``'cuda'``; nothing else)."""
    if device == 'cuda':
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any]) -> Tuple[Any, float, float]:
    """``(fn(), cpu seconds, elapsed seconds)`` of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def primary_clock(device: str) -> str:
    """``'cpu'`` on the CPU (robust to a shared machine); ``'wall'`` on
    CUDA, where the host's CPU time does not measure the kernels."""
    return 'cpu' if device == 'cpu' else 'wall'


def time_interleaved(variants: Dict[str, Callable[[], object]],
                     repeats: int,
                     device: str = 'cpu',
                     inner: int = 1,
                     warmup: int = 2) -> Samples:
    """Seconds per call of each variant on both clocks.

    Each variant is first called ``warmup`` times untimed. Repetition ``r``
    then runs the variants in their order rotated by ``r``, each as one
    block of ``inner`` calls (garbage collection off); a sample is the
    block's time divided by ``inner``.

    Args:
        variants (dict): Name -> function to time.
        repeats (int): Samples per variant.
        device (str): ``'cpu'`` or ``'cuda'`` (synchronised around each
            block). Defaults to ``'cpu'``.
        inner (int): Calls per timed block. Defaults to 1.
        warmup (int): Untimed calls per variant first. Defaults to 2.

    Returns:
        dict: ``{name: {'wall': [...], 'cpu': [...]}}``, ``repeats``
        samples each, in repetition order.
    """
    names = list(variants)
    for name in names:
        for _ in range(warmup):
            variants[name]()
    synchronize(device)
    samples = {name: dict(wall=[], cpu=[]) for name in names}
    gc.collect()
    gc.disable()
    try:
        for rep in range(repeats):
            shift = rep % len(names)
            for name in names[shift:] + names[:shift]:
                fn = variants[name]
                synchronize(device)
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(inner):
                    fn()
                synchronize(device)
                samples[name]['wall'].append(
                    (time.perf_counter() - wall) / inner)
                samples[name]['cpu'].append(
                    (time.process_time() - cpu) / inner)
    finally:
        gc.enable()
    return samples


def summarise(samples: Samples, baseline: str, clock: str) -> Dict[str, dict]:
    """Per variant: the median time and the median, min and max of its
    per-repetition ratio to ``baseline`` on ``clock`` (paired samples
    cancel slow drift), and the same median time and ratio on the wall
    clock.

    Args:
        samples (dict): As :func:`time_interleaved` returns them.
        baseline (str): The variant the ratios are to.
        clock (str): ``'cpu'`` or ``'wall'`` (see :func:`primary_clock`).

    Returns:
        dict: Name -> ``clock``, ``median_ms``, ``ratio``, ``ratio_min``,
        ``ratio_max``, ``wall_median_ms``, ``wall_ratio``, ``repeats``; a
        ratio to a zero baseline sample is nan.
    """
    out = {}
    for name, clocks in samples.items():

        def ratios(kind: str) -> List[float]:
            return [
                t / b if b > 0 else float('nan')
                for t, b in zip(clocks[kind], samples[baseline][kind])
            ]

        primary = ratios(clock)
        out[name] = dict(
            clock=clock,
            median_ms=1e3 * statistics.median(clocks[clock]),
            ratio=statistics.median(primary),
            ratio_min=min(primary),
            ratio_max=max(primary),
            wall_median_ms=1e3 * statistics.median(clocks['wall']),
            wall_ratio=statistics.median(ratios('wall')),
            repeats=len(primary))
    return out


def calibrate_inner(fn: Callable[[], object], device: str,
                    block_s: float) -> int:
    """Calls per timed block so that a block of ``fn`` lasts about
    ``block_s`` seconds: ``ceil(block_s / t)`` (at least 1), ``t`` the
    elapsed time per call of 5 calls after 3 untimed ones."""
    for _ in range(3):
        fn()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(5):
        fn()
    synchronize(device)
    per_call = (time.perf_counter() - start) / 5
    return max(1, math.ceil(block_s / max(per_call, 1e-7)))


def proc_status_kib(field: str, path: str = '/proc/self/status') -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``)."""
    with open(path) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not in {path}')


def peak_memory_bytes(fn: Callable[[], object], device: str) -> int:
    """Peak memory ``fn`` allocates on top of what is live before it.

    ``fn`` is called once untimed (first-call allocations: autograd graph
    caches, workspaces), then measured: on CUDA
    ``max_memory_allocated - memory_allocated`` before; on the CPU the
    growth of the peak resident set (``VmHWM``, reset to the current
    ``VmRSS`` through ``/proc/self/clear_refs``; Linux).
    """
    fn()
    if device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    gc.collect()
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # resets VmHWM (the peak RSS) to the current RSS
    base = proc_status_kib('VmRSS')
    fn()
    return 1024 * max(0, proc_status_kib('VmHWM') - base)


def run_child(args: Sequence[str], cwd: str) -> Dict[str, float]:
    """Elapsed seconds, CPU seconds and peak resident memory of ``python
    ARGS``.

    Args:
        args (Sequence[str]): Arguments of the Python interpreter.
        cwd (str): Its working directory.

    Returns:
        dict: ``seconds``, ``cpu_seconds`` (user + system time of the child,
        which time slices lost to other processes do not inflate) and
        ``peak_rss_bytes`` (``ru_maxrss``), both from ``wait4``; a failing
        child is a ``RuntimeError`` with the end of its output.
    """
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, *args],
                             cwd=cwd,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f'{list(args)} failed:\n'
                           f'{output.decode()[-3000:]}')
    return dict(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_bytes=usage.ru_maxrss * 1024)
