"""Run-time and memory overhead of mmlt's losses and prediction re-balancing
relative to plain cross-entropy.

Three measurements, each a ratio taken in one process with the variants
interleaved (:mod:`mmlt.experiments.timing`: every repetition times each
variant once, in a rotating order, so drift hits all of them alike);
figures are medians over repetitions of the per-repetition ratios. On the
CPU the primary clock is the process CPU time (time slices lost to other
processes on a shared machine do not count; with one thread it equals the
elapsed time of an idle machine), the elapsed-time ratio is reported next
to it; on CUDA it is elapsed time after ``torch.cuda.synchronize()``:

1. loss alone, forward + backward on (B, C) logits: GALALoss, LORTLoss,
   LogitAdjustLoss, BalancedSoftmaxLoss and LDAMLoss (DRW on, scale 30,
   on cosine-range logits) against ``F.cross_entropy`` at (256, 100),
   (256, 1000) and (128, 8142); for information also torch's
   ``F.cross_entropy(label_smoothing=0.98)``, which LORTLoss equals. The
   ``backend`` column is the one GALALoss and LORTLoss run with
   (``'auto'``: Triton on CUDA, torch on the CPU); on CUDA they are also
   timed with ``backend='torch'`` (rows ``...(torch)``);
2. one full MMPretrain training iteration (``model.train_step``: data
   pre-processing, forward, backward, SGD step) of ResNet-32 on 32x32
   inputs, CIFAR-100 head, with GALALoss and the commit step of
   AccumulatedGradientHook against CrossEntropyLoss;
3. GALA's prediction re-balancing (column masses, division, argmax, with
   the functions RebalancedAccuracy uses) over the 24,426 x 8,142 score
   matrix of iNaturalist 2018's validation set, against an argmax-only pass
   and against an estimated test epoch (measured per-image ResNet-50
   forward time x 24,426; data loading excluded, so the estimate is low and
   the ratio conservative). Re-balancing runs on the CPU, where the metric
   runs it.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` per variant; on
the CPU the peak resident-set growth (``VmHWM`` after resetting it through
``/proc/self/clear_refs``) of each variant, measured in a child process
whose glibc serves every allocation above 64 KiB by ``mmap`` (freed memory
leaves the resident set, so variants do not hide in each other's freed
heap).

Run as a script on Linux, it restarts itself with glibc's allocator pinned
to its steady state (``STEADY_MALLOC``) unless ``MALLOC_MMAP_THRESHOLD_`` is
already set; the JSON records the setting.

Usage::

    python benchmarks/overhead.py [--quick] [--threads 1] \
        [--out benchmarks/results/overhead.json]

``--smoke`` runs tiny sizes in seconds (for tests; its timings mean
nothing).
"""
import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from mmlt.experiments.timing import (calibrate_inner, peak_memory_bytes,
                                     primary_clock, summarise,
                                     time_interleaved)

SCHEMA_VERSION = 1
LOSS_SIZES = ((256, 100), (256, 1000), (128, 8142))
INAT_VAL_SHAPE = (24426, 8142)
# targets by device (issue 13 sets the CUDA ones)
LOSS_TARGET = dict(cpu=1.5, cuda=1.3)
TRAIN_ITER_TARGET = dict(cpu=1.03, cuda=1.02)
REBALANCE_TARGET = 0.01
BASELINE = 'CrossEntropy'
LABEL_SMOOTHING = 'CrossEntropy(label_smoothing)'
# loss rows without a target: for information
UNTARGETED = (BASELINE, LABEL_SMOOTHING, 'LDAMLoss')
# glibc serves blocks up to 32 MiB from its heap and keeps freed memory, as
# it settles to in a long training process (its mmap threshold adapts up to
# 32 MiB). With the defaults, whether a 1-8 MiB tensor costs fresh page
# faults depends on what the process freed before, which moved the CE
# baseline at (128, 8142) between 1.9 and 3.6 ms from run to run.
STEADY_MALLOC = dict(
    MALLOC_MMAP_THRESHOLD_=str(32 * 2**20),
    MALLOC_TRIM_THRESHOLD_=str(2**30))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Overhead of mmlt losses and prediction re-balancing '
        'relative to cross-entropy.')
    parser.add_argument(
        '--out',
        default='benchmarks/results/overhead.json',
        help='JSON output path')
    parser.add_argument(
        '--threads',
        type=int,
        default=1,
        choices=(1, 2),
        help='torch / OpenMP threads')
    parser.add_argument(
        '--quick', action='store_true', help='fewer repetitions')
    parser.add_argument(
        '--smoke',
        action='store_true',
        help='tiny sizes and 2 repetitions, to test the script')
    parser.add_argument(
        '--sizes',
        help='loss sizes as BxC,BxC,... (default: 256x100,256x1000,'
        '128x8142)')
    parser.add_argument(
        '--device',
        action='append',
        choices=('cpu', 'cuda'),
        help='devices to run on (default: cpu, and cuda when available)')
    parser.add_argument('--memory-child', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def parse_sizes(text: str) -> Tuple[Tuple[int, int], ...]:
    sizes = []
    for item in text.split(','):
        try:
            batch, classes = (int(v) for v in item.lower().split('x'))
        except ValueError:
            raise SystemExit(f'--sizes: expected BxC items such as 256x100, '
                             f'got {item!r}.')
        if batch < 1 or classes < 2:
            raise SystemExit(f'--sizes: need B >= 1 and C >= 2, got {item}.')
        sizes.append((batch, classes))
    return tuple(sizes)


def settings_from_args(args: argparse.Namespace) -> dict:
    """Problem sizes and repetition counts of this run."""
    if args.smoke:
        settings = dict(
            loss_sizes=((8, 10), ),
            loss_repeats=2,
            loss_block_s=0.001,
            train_batch=4,
            train_repeats=2,
            rebalance_shape=(64, 10),
            rebalance_repeats=2,
            test_batch=1,
            test_image_size=32,
            test_repeats=2)
    else:
        settings = dict(
            loss_sizes=LOSS_SIZES,
            loss_repeats=9 if args.quick else 31,
            loss_block_s=0.01 if args.quick else 0.03,
            train_batch=128,
            train_repeats=5 if args.quick else 15,
            rebalance_shape=INAT_VAL_SHAPE,
            rebalance_repeats=3 if args.quick else 7,
            test_batch=4,
            test_image_size=224,
            test_repeats=3 if args.quick else 7)
    if args.sizes:
        settings['loss_sizes'] = parse_sizes(args.sizes)
    return settings


# --------------------------------------------------------------------------
# Workloads


def long_tail_counts(num_classes: int, n_max: int = 500,
                     imbalance: float = 100.0) -> List[int]:
    """The project's LT profile: int(n_max * (1/IF) ** (i / (C - 1)))."""
    return [
        max(1, int(n_max * (1 / imbalance)**(i / (num_classes - 1))))
        for i in range(num_classes)
    ]


def loss_modules(num_classes: int, device: str) -> Dict[str, object]:
    from mmlt.models.losses import (BalancedSoftmaxLoss, GALALoss, LDAMLoss,
                                    LogitAdjustLoss, LORTLoss)
    counts = long_tail_counts(num_classes)
    ldam = LDAMLoss(drw_start_epoch=0, class_counts=counts)
    ldam.set_epoch(0)
    modules = dict(
        GALALoss=GALALoss(num_classes, lambda1=1.2, lambda2=0.9, eps=1e-3),
        LORTLoss=LORTLoss(eps=0.98),
        LogitAdjustLoss=LogitAdjustLoss(tau=1.0, class_counts=counts),
        BalancedSoftmaxLoss=BalancedSoftmaxLoss(class_counts=counts),
        LDAMLoss=ldam)
    if device == 'cuda':
        modules['GALALoss(torch)'] = GALALoss(
            num_classes, lambda1=1.2, lambda2=0.9, eps=1e-3, backend='torch')
        modules['LORTLoss(torch)'] = LORTLoss(eps=0.98, backend='torch')
    return {name: m.to(device).train() for name, m in modules.items()}


def loss_backend(variant: str, device: str) -> str:
    """The backend a loss row runs with (see :func:`loss_modules`)."""
    from mmlt.ops import resolve_backend
    if variant.endswith('(torch)') or not variant.startswith(('GALA', 'LORT')):
        return 'torch'
    return resolve_backend('auto', torch.empty(0, device=device), variant)


def loss_variants(batch: int, num_classes: int,
                  device: str) -> Dict[str, Callable[[], object]]:
    """Forward + backward of each loss on fixed (B, C) logits."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(batch, num_classes, generator=generator).to(device)
    logits.requires_grad_(True)
    labels = torch.randint(
        0, num_classes, (batch, ), generator=generator).to(device)

    # LDAM's scale 30 is meant for cosine logits; on N(0, 1) logits 30 z
    # would underflow exp() into float32 denormals and time those instead.
    cosine = (torch.rand(batch, num_classes, generator=generator) * 2 -
              1).to(device).requires_grad_(True)

    def step(loss_fn: Callable, inputs: torch.Tensor) -> Callable[[], object]:

        def run():
            inputs.grad = None
            loss_fn().backward()

        return run

    variants = {
        BASELINE:
        step(lambda: F.cross_entropy(logits, labels), logits),
        LABEL_SMOOTHING:
        step(lambda: F.cross_entropy(logits, labels, label_smoothing=0.98),
             logits)
    }
    for name, module in loss_modules(num_classes, device).items():
        inputs = cosine if name == 'LDAMLoss' else logits
        variants[name] = step(
            lambda m=module, x=inputs: m(x, labels, avg_factor=batch), inputs)
    return variants


def build_cifar_classifier(loss: dict, device: str) -> torch.nn.Module:
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            data_preprocessor=dict(
                type='ClsDataPreprocessor',
                mean=[129.304, 124.070, 112.434],
                std=[68.170, 65.392, 70.418]),
            backbone=dict(type='CifarResNet', depth=32),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=100,
                in_channels=64,
                loss=loss)))
    model.init_weights()
    return model.to(device).train()


def train_iteration_variants(batch: int,
                             device: str) -> Dict[str, Callable[[], object]]:
    """One ``train_step`` of ResNet-32 with CE, and with GALA plus the
    commit step of AccumulatedGradientHook."""
    from mmengine.logging import MessageHub
    from mmengine.optim import OptimWrapper

    from mmlt.engine.hooks import AccumulatedGradientHook
    from mmlt.experiments.throughput import synthetic_batch

    data = synthetic_batch(batch, 32, 100)  # on the CPU, as a loader's
    data['inputs'] = list(data['inputs'])
    counts = long_tail_counts(100)

    def iteration(model: torch.nn.Module, hook=None) -> Callable[[], object]:
        optimizer = torch.optim.SGD(
            model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        optim_wrapper = OptimWrapper(optimizer)
        runner = SimpleNamespace(
            model=model,
            iter=0,
            message_hub=MessageHub.get_instance('mmlt_overhead'))
        if hook is not None:
            hook.before_train(runner)

        def run():
            model.train_step(data, optim_wrapper)
            if hook is not None:
                hook.after_train_iter(runner, batch_idx=runner.iter)
            runner.iter += 1

        return run

    ce_model = build_cifar_classifier(
        dict(type='CrossEntropyLoss', loss_weight=1.0), device)
    gala_model = build_cifar_classifier(
        dict(type='GALALoss', num_classes=100, lambda1=1.2, lambda2=0.9),
        device)
    return {
        BASELINE:
        iteration(ce_model),
        'GALALoss+AccumulatedGradientHook':
        iteration(
            gala_model,
            AccumulatedGradientHook(interval=50, train_class_counts=counts))
    }


def make_probs(shape: Tuple[int, int]) -> torch.Tensor:
    """Float64 softmax scores of random logits, as RebalancedAccuracy holds
    them."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(*shape, generator=generator)
    logits.mul_(2.0)
    return torch.softmax(logits, dim=1, dtype=torch.float64)


def rebalance_variants(
        probs: torch.Tensor,
        tau: float = 1.5) -> Dict[str, Callable[[], object]]:
    from mmlt.evaluation.rebalancers import column_mass, rebalance_probs
    return {
        'argmax':
        lambda: probs.argmax(dim=1),
        'rebalance+argmax':
        lambda: rebalance_probs(probs, column_mass(probs), tau).argmax(dim=1),
    }


def build_resnet50_classifier(num_classes: int,
                              device: str) -> torch.nn.Module:
    from mmpretrain.registry import MODELS
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=50),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=2048)))
    return model.to(device).eval()


def estimate_test_epoch_s(num_images: int, num_classes: int, device: str,
                          settings: dict) -> dict:
    """ResNet-50 forward time per image x ``num_images``."""
    batch = settings['test_batch'] * (16 if device == 'cuda' else 1)
    size = settings['test_image_size']
    model = build_resnet50_classifier(num_classes, device)
    inputs = torch.randn(batch, 3, size, size, device=device)

    def forward():
        with torch.no_grad():
            model(inputs, mode='tensor')

    samples = time_interleaved(
        dict(forward=forward),
        settings['test_repeats'],
        device,
        warmup=1)['forward'][primary_clock(device)]
    per_image = statistics.median(samples) / batch
    return dict(
        model='ResNet-50 + LinearClsHead',
        clock=primary_clock(device),
        image_size=size,
        batch=batch,
        per_image_ms=1e3 * per_image,
        num_images=num_images,
        epoch_s=per_image * num_images)


# --------------------------------------------------------------------------
# Memory child process (CPU)


def memory_jobs(settings: dict) -> dict:
    return dict(
        loss_sizes=[list(s) for s in settings['loss_sizes']],
        train_batch=settings['train_batch'],
        rebalance_shape=list(settings['rebalance_shape']))


def run_memory_child(job: dict) -> dict:
    """In a fresh process: peak RSS growth of every variant."""
    out = dict(loss={}, train_iteration={}, rebalancing={})
    for batch, classes in job['loss_sizes']:
        variants = loss_variants(batch, classes, 'cpu')
        out['loss'][f'{batch}x{classes}'] = {
            name: peak_memory_bytes(fn, 'cpu')
            for name, fn in variants.items()
        }
        del variants
    variants = train_iteration_variants(job['train_batch'], 'cpu')
    out['train_iteration'] = {
        name: peak_memory_bytes(fn, 'cpu')
        for name, fn in variants.items()
    }
    del variants
    probs = make_probs(tuple(job['rebalance_shape']))
    out['rebalancing'] = {
        name: peak_memory_bytes(fn, 'cpu')
        for name, fn in rebalance_variants(probs).items()
    }
    return out


def cpu_peak_memory(settings: dict, threads: int) -> dict:
    """Run :func:`run_memory_child` in a child process with mmap-backed
    allocations; returns its result, or an ``error`` entry."""
    env = dict(
        os.environ,
        MALLOC_MMAP_THRESHOLD_='65536',
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads))
    env.pop('MALLOC_TRIM_THRESHOLD_', None)
    cmd = [
        sys.executable,
        osp.abspath(__file__), '--threads',
        str(threads), '--memory-child',
        json.dumps(memory_jobs(settings))
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return dict(error=proc.stderr.strip().splitlines()[-1:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# Report


def timed_rows(variants: Dict[str, Callable[[], object]],
               repeats: int,
               device: str,
               backend: Callable[[str], str],
               inner: int = 1,
               **fields) -> List[dict]:
    """One row per variant: ``device``, ``fields``, its name and
    ``backend(name)``, its times and ratios to :data:`BASELINE`
    (:func:`summarise` of :func:`time_interleaved`) and, on CUDA, its peak
    memory."""
    samples = time_interleaved(variants, repeats, device, inner)
    rows = [
        dict(device=device, **fields, variant=name, backend=backend(name),
             **stats) for name, stats in summarise(
                 samples, BASELINE, primary_clock(device)).items()
    ]
    if device == 'cuda':
        add_memory(rows, {
            name: peak_memory_bytes(fn, device)
            for name, fn in variants.items()
        })
    return rows


def add_memory(rows: List[dict],
               peaks: Optional[Dict[str, int]],
               baseline: Optional[str] = BASELINE) -> None:
    """Attach peak bytes and their ratio to ``baseline``'s (None if no
    baseline or a zero one) to ``rows``."""
    if not peaks:
        return
    base = peaks.get(baseline) if baseline else None
    for row in rows:
        peak = peaks.get(row['variant'])
        row['peak_mem_bytes'] = peak
        row['peak_mem_ratio'] = (peak / base if peak is not None and base
                                 else None)


def evaluate_targets(report: dict) -> List[dict]:
    targets = []
    for device in report['machine']['devices']:
        loss_rows = [
            r for r in report['loss']
            if r['device'] == device and r['variant'] not in UNTARGETED
        ]
        for variant in sorted({r['variant'] for r in loss_rows}):
            worst = max((r for r in loss_rows if r['variant'] == variant),
                        key=lambda r: r['ratio'])
            threshold = LOSS_TARGET[device]
            targets.append(
                ratio_target(
                    f'{variant} forward+backward <= {threshold}x CE', device,
                    worst, threshold))
            if device == 'cuda':
                targets.append(peak_memory_target(
                    f'{variant} peak memory <= CE',
                    [r for r in loss_rows if r['variant'] == variant]))
        for row in report['train_iteration']:
            if row['device'] == device and row['variant'] != BASELINE:
                threshold = TRAIN_ITER_TARGET[device]
                targets.append(
                    ratio_target(
                        'ResNet-32 training iteration with GALA <= '
                        f'{threshold}x CE', device, row, threshold))
                if device == 'cuda':
                    targets.append(peak_memory_target(
                        'ResNet-32 training iteration with GALA peak memory '
                        '<= CE', [row]))
    rebalancing = report['rebalancing']
    for device, epoch in rebalancing['test_epoch'].items():
        share = rebalancing['extra_s'] / epoch['epoch_s']
        targets.append(
            dict(
                name='re-balancing adds < 1% to a test epoch',
                device=device,
                measured=share,
                at='x'.join(map(str, rebalancing['shape'])),
                clock=epoch['clock'],
                threshold=REBALANCE_TARGET,
                met=share < REBALANCE_TARGET))
    return targets


def row_size(row: dict) -> str:
    """``B=.. C=..`` of a timed row (``B=..`` for a training iteration)."""
    return (f"B={row['batch']} C={row['classes']}"
            if 'classes' in row else f"B={row['batch']}")


def ratio_target(name: str, device: str, row: dict, threshold: float) -> dict:
    """Whether the time ratio to CE of ``row`` is at most ``threshold``."""
    return dict(
        name=name,
        device=device,
        measured=row['ratio'],
        at=row_size(row),
        clock=row['clock'],
        threshold=threshold,
        met=row['ratio'] <= threshold)


def peak_memory_target(name: str, rows: List[dict]) -> dict:
    """The worst CUDA peak-memory ratio to CE of ``rows``, at most 1."""
    worst = max(rows, key=lambda r: r['peak_mem_ratio'])
    return dict(
        name=name,
        device='cuda',
        measured=worst['peak_mem_ratio'],
        at=row_size(worst),
        clock='max_memory_allocated',
        threshold=1.0,
        met=worst['peak_mem_ratio'] <= 1.0)


def format_table(report: dict) -> str:
    lines = []
    header = (f"{'section':<16}{'device':<7}{'size':<12}{'backend':<8}"
              f"{'variant':<34}"
              f"{'clock':>6}{'median ms':>11}{'ratio':>8}{'[min, max]':>16}"
              f"{'wall ratio':>11}{'peak MiB':>10}{'mem ratio':>10}")
    lines.append(header)
    lines.append('-' * len(header))

    def timing(row: dict, digits: int) -> str:
        spread = '[%.2f, %.2f]' % (row['ratio_min'], row['ratio_max'])
        return (f"{row['variant']:<34}{row['clock']:>6}"
                f"{row['median_ms']:>11.{digits}f}{row['ratio']:>8.3f}"
                f"{spread:>16}{row['wall_ratio']:>11.3f}")

    def memory(row: dict) -> str:
        peak, ratio = row.get('peak_mem_bytes'), row.get('peak_mem_ratio')
        return (f'{peak / 2**20:>10.2f}' if peak is not None else
                f"{'-':>10}") + (f'{ratio:>10.2f}'
                                 if ratio is not None else f"{'-':>10}")

    for section in ('loss', 'train_iteration'):
        for row in report[section]:
            size = (f"{row['batch']}x{row['classes']}"
                    if 'classes' in row else f"B={row['batch']}")
            lines.append(f"{section:<16}{row['device']:<7}{size:<12}"
                         f"{row.get('backend', '-'):<8}" + timing(row, 3) +
                         memory(row))
    rebalancing = report['rebalancing']
    shape = 'x'.join(map(str, rebalancing['shape']))
    for row in rebalancing['rows']:
        lines.append(f"{'rebalancing':<16}{'cpu':<7}{shape:<12}{'-':<8}" +
                     timing(row, 1) + memory(row))
    for device, epoch in rebalancing['test_epoch'].items():
        lines.append(
            f"{'test epoch est.':<16}{device:<7}{shape:<12}{'-':<8}"
            f"{epoch['model']:<34}{epoch['clock']:>6}"
            f"{1e3 * epoch['epoch_s']:>11.0f}"
            f"  ({epoch['per_image_ms']:.2f} ms/image x "
            f"{epoch['num_images']})")
    lines.append('')
    for target in report['targets']:
        lines.append(f"[{'met' if target['met'] else 'MISSED':>6}] "
                     f"{target['name']} ({target['device']}, {target['at']}):"
                     f" {target['measured']:.4g}")
    info = report['machine']
    lines.append(f"\n{info['cpu_model']}, torch {info['torch']}, "
                 f"{info['torch_threads']} thread(s), {info['date']}; "
                 "clock cpu = process CPU time, wall = elapsed time")
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    settings = settings_from_args(args)
    torch.set_num_threads(args.threads)
    os.environ.setdefault('OMP_NUM_THREADS', str(args.threads))
    import mmlt  # noqa: F401  (registers the modules)
    from mmlt.experiments import machine_info
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmlt_overhead', log_level='WARNING')

    if args.memory_child:
        print(json.dumps(run_memory_child(json.loads(args.memory_child))))
        return {}

    devices = args.device or (['cpu', 'cuda']
                              if torch.cuda.is_available() else ['cpu'])
    if 'cuda' in devices and not torch.cuda.is_available():
        raise SystemExit('--device cuda: CUDA is not available.')
    report = dict(
        schema_version=SCHEMA_VERSION,
        machine=machine_info(args.threads, devices),
        settings=dict(
            quick=args.quick,
            smoke=args.smoke,
            **{
                k: list(v) if isinstance(v, tuple) else v
                for k, v in settings.items()
            }),
        loss=[],
        train_iteration=[])
    report['settings']['malloc_env'] = {
        key: os.environ.get(key)
        for key in ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_')
    }
    report['settings']['loss_sizes'] = [
        list(s) for s in settings['loss_sizes']
    ]

    for device in devices:
        for batch, classes in settings['loss_sizes']:
            variants = loss_variants(batch, classes, device)
            inner = calibrate_inner(variants[BASELINE], device,
                                    settings['loss_block_s'])
            report['loss'] += timed_rows(
                variants, settings['loss_repeats'], device,
                lambda name: loss_backend(name, device), inner,
                batch=batch, classes=classes, calls_per_sample=inner)
            print(f'loss {device} {batch}x{classes} done', flush=True)
        variants = train_iteration_variants(settings['train_batch'], device)
        report['train_iteration'] += timed_rows(
            variants, settings['train_repeats'], device,
            lambda name: loss_backend(
                'GALALoss' if name != BASELINE else name, device),
            batch=settings['train_batch'])
        del variants
        print(f'training iteration {device} done', flush=True)

    shape = tuple(settings['rebalance_shape'])
    probs = make_probs(shape)
    samples = time_interleaved(
        rebalance_variants(probs),
        settings['rebalance_repeats'],
        'cpu',
        warmup=1)
    del probs
    stats = summarise(samples, 'argmax', primary_clock('cpu'))
    extra_s = (stats['rebalance+argmax']['median_ms'] -
               stats['argmax']['median_ms']) / 1e3
    report['rebalancing'] = dict(
        shape=list(shape),
        tau=1.5,
        device='cpu',
        rows=[
            dict(device='cpu', variant=name, **s) for name, s in stats.items()
        ],
        extra_s=extra_s,
        test_epoch={
            device: estimate_test_epoch_s(shape[0], shape[1], device,
                                          settings)
            for device in devices
        })
    print('re-balancing done', flush=True)

    peaks = cpu_peak_memory(settings, args.threads)
    report['cpu_memory_method'] = (
        'peak RSS growth per variant (VmHWM after clear_refs) in a child '
        'process with MALLOC_MMAP_THRESHOLD_=65536')
    if 'error' in peaks:
        report['cpu_memory_error'] = peaks['error']
    else:
        for batch, classes in settings['loss_sizes']:
            add_memory([
                r for r in report['loss'] if r['device'] == 'cpu'
                and (r['batch'], r['classes']) == (batch, classes)
            ], peaks['loss'][f'{batch}x{classes}'])
        add_memory(
            [r for r in report['train_iteration'] if r['device'] == 'cpu'],
            peaks['train_iteration'])
        # argmax allocates almost nothing: a ratio to it means nothing.
        add_memory(report['rebalancing']['rows'],
                   peaks['rebalancing'],
                   baseline=None)
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report['machine']['max_rss_main_process_bytes'] = 1024 * max_rss
    report['targets'] = evaluate_targets(report)

    print(format_table(report))
    if osp.dirname(args.out):
        os.makedirs(osp.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(report, f, indent=2)
    print(f'\nwrote {args.out}')
    return report


if __name__ == '__main__':
    if 'MALLOC_MMAP_THRESHOLD_' not in os.environ and sys.platform == 'linux':
        # Restart with glibc's steady state pinned (see STEADY_MALLOC).
        argv = getattr(sys, 'orig_argv', [sys.executable] + sys.argv)
        os.execve(sys.executable, argv, dict(os.environ, **STEADY_MALLOC))
    main()
