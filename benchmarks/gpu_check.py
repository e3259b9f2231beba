"""The prepared GPU check: everything mmlt needs a GPU to check, in one run
of at most about 8 minutes on one GPU. Prints one table, writes JSON.

Steps (docs/gpu_and_clusters.md says how to run it on a GPU box):

1. ``cuda_tests``: the CUDA-marked tests (``pytest -m cuda``).
2. ``amp_training``: a tiny GALA model (CIFAR ResNet-8, re-balancing head,
   :class:`AccumulatedGradientHook`) and a tiny LORT stage-2 model
   (:class:`FrozenFeatureClassifier`, LORT loss) trained 2 epochs x 4
   iterations on :class:`SyntheticImages` with mmengine's Runner, in
   float32 and with ``AmpOptimWrapper`` in float16 and bfloat16 (what
   ``tools/train.py --amp`` sets): every loss finite; GALA's statistics
   float64, finite and within ``STAT_RTOL`` of the float32 run; a run
   stopped after epoch 1 and resumed ends bit-identical (parameters,
   buffers incl. statistics) to the uninterrupted run.
3. ``fp16_overflow``: in the GALA run, iteration ``OVERFLOW_ITER`` sees
   +inf logits (the classifier's bias of class 0 is +inf for that one
   iteration). It passes if training stops with an error that says the
   values are non-finite, or if the step is skipped (loss scaler) and
   statistics stay finite and unchanged.
4. ``overhead``: ``benchmarks/overhead.py --device cuda --quick``.
5. ``throughput``: training images/s (``model.train_step`` on one
   synthetic batch on the device) of CIFAR ResNet-32 (32 px, batch 128,
   100 classes) and ResNeXt-50 32x4d (224 px, batch 64, 1000 classes) with
   cross-entropy, GALA (+ the hook's label check and commit) and LORT
   stage 2, in float32 and float16 AMP.

``--dry-run`` runs the same code on the CPU in float32 with tiny sizes
(CI runs it; its figures mean nothing). ``--wheels DIR`` first installs the
wheels of ``make gpu-wheels`` (mmengine, mmcv-lite, mmpretrain and their
small pure-Python dependencies) with ``pip --no-index --no-deps`` into
``DIR/site`` and reruns itself with that folder and the repository on
``PYTHONPATH``: for a GPU box that has torch but no OpenMMLab and no
package index (its own packages are left as they are).

Usage::

    python benchmarks/gpu_check.py [--wheels .whl] [--dry-run] \
        [--out benchmarks/results/gpu_check.json]

Exit status 0 when every step passed or was skipped, 1 otherwise.
"""
import argparse
import datetime
import glob
import itertools
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Callable, Dict, List, Optional, Sequence

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCHEMA_VERSION = 1
AMP_DTYPES = ('float16', 'bfloat16')
# Largest relative difference max|s - s32| / max|s32| of GALA's statistics
# after 8 iterations against the float32 run: the logits of an AMP run
# differ by about the input precision (2^-11, 2^-8), and the models drift
# apart over the iterations.
STAT_RTOL = dict(float32=0.0, float16=0.05, bfloat16=0.1)
OVERFLOW_ITER = 5  # 0-based, in epoch 2: after a checkpoint
TIME_TARGET_S = 8 * 60
WHEELS_ENV_VAR = 'MMLT_GPU_CHECK_WHEELS'  # set by --wheels for the rerun
TINY = dict(
    class_counts=(12, 8, 6, 4, 2),
    image_size=16,
    batch_size=8,
    epochs=2,
    many_shot_thr=10,
    low_shot_thr=5)
THROUGHPUT_MODELS = dict(
    resnet32_cifar=dict(image_size=32, batch_size=128, num_classes=100),
    resnext50_224=dict(image_size=224, batch_size=64, num_classes=1000))
THROUGHPUT_DRY = dict(
    resnet32_cifar=dict(image_size=32, batch_size=4, num_classes=100),
    resnext50_224=dict(image_size=32, batch_size=2, num_classes=1000))
THROUGHPUT_LOSSES = ('CE', 'GALA', 'LORT-stage2')
RUN_IDS = itertools.count()  # unique experiment names (logger, message hub)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--dry-run',
        action='store_true',
        help='the same steps on the CPU, float32, tiny sizes (seconds)')
    parser.add_argument(
        '--wheels',
        help='install the wheels in this folder (make gpu-wheels) first, '
        'with pip --no-index --no-deps')
    parser.add_argument(
        '--out',
        default=osp.join('benchmarks', 'results', 'gpu_check.json'),
        help='JSON report path')
    parser.add_argument(
        '--tests',
        nargs='+',
        default=['tests'],
        help='where pytest looks for the CUDA-marked tests')
    parser.add_argument(
        '--skip',
        nargs='+',
        default=[],
        choices=('cuda_tests', 'amp_training', 'fp16_overflow', 'overhead',
                 'throughput'),
        help='steps to leave out')
    parser.add_argument(
        '--iterations',
        type=int,
        default=20,
        help='timed throughput iterations (dry run: 1)')
    return parser.parse_args(argv)


def install_wheels_and_restart(folder: str, argv: Sequence[str]) -> None:
    """Install every wheel in ``folder`` with ``pip --no-index --no-deps``
    into ``folder/site`` and run this script again with that folder (and
    the repository, for ``mmlt``) first on ``PYTHONPATH``, so that the
    machine's own packages stay as they are."""
    wheels = sorted(glob.glob(osp.join(folder, '*.whl')))
    if not wheels:
        raise SystemExit(f'--wheels {folder}: no *.whl files there; run '
                         '`make gpu-wheels` on a machine with PyPI access '
                         'and copy the folder.')
    site = osp.join(osp.abspath(folder), 'site')
    subprocess.run([
        sys.executable, '-m', 'pip', 'install', '-q', '--no-index',
        '--no-deps', '--upgrade', '--target', site, *wheels
    ],
                   check=True)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            filter(None, [site, REPO_ROOT,
                          os.environ.get('PYTHONPATH')])),
        **{WHEELS_ENV_VAR: ' '.join(osp.basename(w) for w in wheels)})
    args, skip = [], False
    for arg in argv:
        if skip or arg.startswith('--wheels='):
            skip = False
        elif arg == '--wheels':
            skip = True
        else:
            args.append(arg)
    os.execve(sys.executable,
              [sys.executable, osp.abspath(__file__), *args], env)


def child_env() -> dict:
    """The environment of the steps run as scripts: this one with the
    repository on ``PYTHONPATH`` (for ``mmlt``)."""
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            filter(None, [REPO_ROOT, os.environ.get('PYTHONPATH')])))


def run_step(report: dict, name: str, fn: Callable[[], dict]) -> None:
    """Run one step, recording its result, status and duration; an
    exception fails the step (with its traceback) without stopping the
    others. Deterministic algorithms, which the training steps switch on,
    are switched off after each step."""
    import torch
    start = time.perf_counter()
    try:
        result = fn()
    except Exception:  # noqa: BLE001  (reported as the step's failure)
        result = dict(status='fail', error=traceback.format_exc())
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
    result['seconds'] = round(time.perf_counter() - start, 1)
    report['steps'][name] = result
    print(
        f'[gpu_check] {name}: {result["status"]} '
        f'({result["seconds"]} s)',
        flush=True)


# ---------------------------------------------------------------- step 1


def cuda_tests(tests: Sequence[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-m', 'cuda', *tests],
        cwd=REPO_ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else ''
    # pytest exit 5: no test carries the marker
    status = {0: 'pass', 5: 'skipped'}.get(proc.returncode, 'fail')
    result = dict(status=status, returncode=proc.returncode, summary=summary)
    if status == 'fail':
        result['output_tail'] = proc.stdout[-4000:]
    return result


# ---------------------------------------------------------- steps 2 and 3


def tiny_model(kind: str) -> dict:
    """CIFAR ResNet-8 + GALA's re-balancing head, or the LORT stage-2
    classifier (frozen features, LORT loss)."""
    num_classes = len(TINY['class_counts'])
    if kind == 'GALA':
        model_type, head_type = 'ImageClassifier', 'RebalancedLinearClsHead'
        loss = dict(
            type='GALALoss', num_classes=num_classes, lambda1=1.2, lambda2=0.9)
    else:
        model_type, head_type = 'FrozenFeatureClassifier', 'LinearClsHead'
        loss = dict(type='LORTLoss', eps=0.9)
    return dict(
        type=model_type,
        data_preprocessor=dict(
            num_classes=num_classes, mean=[127.5] * 3, std=[64.0] * 3),
        backbone=dict(type='CifarResNet', depth=8),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type=head_type,
            num_classes=num_classes,
            in_channels=64,
            loss=loss))


def use_deterministic_algorithms() -> None:
    """Deterministic cuDNN and torch algorithms for the training steps
    (switched back by :func:`run_step`). ``warn_only``: ops without a
    deterministic CUDA implementation (e.g. the backward of
    ``AdaptiveAvgPool2d``, i.e. GlobalAveragePooling) warn instead of
    raising, which mmengine's ``randomness=dict(deterministic=True)``
    would make them do."""
    import torch
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def build_runner(kind: str,
                 precision: str,
                 work_dir: str,
                 max_epochs: int,
                 resume: bool,
                 record,
                 inject=None):
    from mmengine.runner import Runner
    optim_wrapper = dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
    if precision != 'float32':
        optim_wrapper.update(
            type='AmpOptimWrapper', dtype=precision, loss_scale='dynamic')
    custom_hooks = [record] + ([inject] if inject is not None else [])
    if kind == 'GALA':
        custom_hooks.append(
            dict(
                type='AccumulatedGradientHook',
                interval=1,
                many_shot_thr=TINY['many_shot_thr'],
                low_shot_thr=TINY['low_shot_thr']))
    name = f'gpu_check_{kind}_{precision}_{next(RUN_IDS)}'
    return Runner(
        model=tiny_model(kind),
        work_dir=work_dir,
        experiment_name=name,
        train_dataloader=dict(
            batch_size=TINY['batch_size'],
            num_workers=0,
            dataset=dict(
                type='SyntheticImages',
                class_counts=TINY['class_counts'],
                image_size=TINY['image_size'],
                pipeline=[dict(type='PackInputs')]),
            sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=optim_wrapper,
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(
            timer=dict(type='IterTimerHook'),
            logger=dict(type='LoggerHook', interval=100),
            param_scheduler=dict(type='ParamSchedulerHook'),
            checkpoint=dict(type='CheckpointHook', interval=1),
            sampler_seed=dict(type='DistSamplerSeedHook')),
        custom_hooks=custom_hooks,
        randomness=dict(seed=0),
        resume=resume,
        default_scope='mmpretrain',
        log_level='WARNING')


def recording_hooks():
    """A hook that records each iteration's loss and GALA's statistics after
    the commit (lowest priority), and one that makes the logits of
    iteration ``OVERFLOW_ITER`` +inf."""
    import torch
    from mmengine.hooks import Hook

    from mmlt.models.losses import GALALoss
    from mmlt.models.losses.gala_loss import STATISTICS

    class RecordTraining(Hook):
        priority = 'LOWEST'

        def __init__(self):
            self.losses: List[float] = []
            self.stats: List[Dict[str, torch.Tensor]] = []

        def after_train_iter(self,
                             runner,
                             batch_idx,
                             data_batch=None,
                             outputs=None):
            self.losses.append(float(outputs['loss']))
            gala = [
                m for m in runner.model.modules() if isinstance(m, GALALoss)
            ]
            if gala:
                self.stats.append({
                    name: getattr(gala[0], name).detach().clone()
                    for name in STATISTICS
                })

    class InjectInfLogits(Hook):
        priority = 'HIGHEST'

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if runner.iter == OVERFLOW_ITER:
                bias = runner.model.head.fc.bias
                self.saved = bias.detach().clone()
                with torch.no_grad():
                    bias[0] = float('inf')

        def after_train_iter(self,
                             runner,
                             batch_idx,
                             data_batch=None,
                             outputs=None):
            if runner.iter == OVERFLOW_ITER:
                with torch.no_grad():
                    runner.model.head.fc.bias.copy_(self.saved)

    return RecordTraining, InjectInfLogits


def final_state(runner) -> dict:
    return {
        k: v.detach().cpu().clone()
        for k, v in runner.model.state_dict().items()
    }


def relative_difference(a, b) -> float:
    scale = float(b.abs().max())
    return float((a - b).abs().max()) / scale if scale > 0 else float(
        (a - b).abs().max())


def train_variant(kind: str, precision: str, root: str, record_cls) -> dict:
    """Uninterrupted run, and a run stopped after epoch 1 and resumed."""
    import torch
    full_record = record_cls()
    full = build_runner(kind, precision, osp.join(root, 'full'),
                        TINY['epochs'], False, full_record)
    full.train()
    first = build_runner(kind, precision, osp.join(root, 'resumed'), 1, False,
                         record_cls())
    first.train()
    resumed = build_runner(kind, precision, osp.join(root, 'resumed'),
                           TINY['epochs'], True, record_cls())
    resumed.train()
    full_state, resumed_state = final_state(full), final_state(resumed)
    mismatched = [
        k for k in full_state
        if not torch.equal(full_state[k], resumed_state[k])
    ]
    result = dict(
        losses=full_record.losses,
        losses_finite=all(
            map(torch.isfinite, map(torch.tensor, full_record.losses))),
        resume_bit_exact=not mismatched,
        resume_mismatched=mismatched[:10])
    if full_record.stats:
        stats = full_record.stats[-1]
        result.update(
            stats_dtype=str(stats['theta'].dtype).replace('torch.', ''),
            stats_finite=bool(
                all(torch.isfinite(stat).all() for stat in stats.values())),
            stats=stats)
    return result


def amp_training(precisions: Sequence[str]) -> dict:
    use_deterministic_algorithms()
    record_cls, _ = recording_hooks()
    rows = []
    with tempfile.TemporaryDirectory(prefix='mmlt_gpu_check_') as root:
        for kind in ('GALA', 'LORT-stage2'):
            reference = None
            for precision in precisions:
                result = train_variant(kind, precision,
                                       osp.join(root, kind, precision),
                                       record_cls)
                row = dict(model=kind, precision=precision)
                checks = [result['losses_finite'], result['resume_bit_exact']]
                if kind == 'GALA':
                    if precision == 'float32':
                        reference = result['stats']
                    diff = max(
                        relative_difference(result['stats'][name],
                                            reference[name])
                        for name in reference)
                    row.update(
                        stats_dtype=result['stats_dtype'],
                        stats_finite=result['stats_finite'],
                        stats_rel_diff_vs_float32=diff,
                        stats_rtol=STAT_RTOL[precision])
                    checks += [
                        result['stats_dtype'] == 'float64',
                        result['stats_finite'], diff <= STAT_RTOL[precision]
                    ]
                row.update(
                    losses_finite=result['losses_finite'],
                    final_loss=result['losses'][-1],
                    resume_bit_exact=result['resume_bit_exact'],
                    resume_mismatched=result['resume_mismatched'],
                    status='pass' if all(checks) else 'fail')
                rows.append(row)
    status = 'pass' if all(r['status'] == 'pass' for r in rows) else 'fail'
    return dict(status=status, runs=rows)


def fp16_overflow(precision: str) -> dict:
    import torch
    use_deterministic_algorithms()
    record_cls, inject_cls = recording_hooks()
    record = record_cls()
    with tempfile.TemporaryDirectory(prefix='mmlt_gpu_check_') as root:
        runner = build_runner('GALA', precision, root, TINY['epochs'], False,
                              record, inject_cls())
        try:
            runner.train()
            error = None
        except Exception as exc:  # noqa: BLE001  (the outcome checked)
            error = f'{type(exc).__name__}: {exc}'
    result = dict(precision=precision, iteration=OVERFLOW_ITER)
    if error is not None:
        clear = any(word in error.lower()
                    for word in ('finite', 'inf', 'nan', 'overflow'))
        result.update(
            outcome='error',
            message=error[:2000],
            status='pass' if clear else 'fail')
        return result
    before = record.stats[OVERFLOW_ITER - 1]
    after = record.stats[OVERFLOW_ITER]
    last = record.stats[-1]
    unchanged = all(
        torch.equal(before[name], after[name]) for name in before)
    finite = all(bool(torch.isfinite(stat).all()) for stat in last.values())
    later_losses = record.losses[OVERFLOW_ITER + 1:]
    result.update(
        outcome='continued',
        stats_unchanged_by_overflow_step=unchanged,
        stats_finite_at_end=finite,
        later_losses_finite=all(
            map(torch.isfinite, map(torch.tensor, later_losses))),
        status='pass' if unchanged and finite else 'fail')
    return result


# ---------------------------------------------------------------- step 4


def overhead(device: str, out_dir: str) -> dict:
    out = osp.join(out_dir, f'overhead_gpu_check_{device}.json')
    args = [
        sys.executable,
        osp.join(REPO_ROOT, 'benchmarks', 'overhead.py'), '--device', device,
        '--out', out
    ]
    args.append('--smoke' if device == 'cpu' else '--quick')
    proc = subprocess.run(
        args,
        cwd=REPO_ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True)
    result = dict(
        status='pass' if proc.returncode == 0 else 'fail',
        returncode=proc.returncode,
        json=out,
        table=proc.stdout[-6000:])
    return result


# ---------------------------------------------------------------- step 5


def throughput_model(arch: str, loss: str, num_classes: int, device: str):
    import torch
    from mmpretrain.registry import MODELS
    if arch == 'resnet32_cifar':
        backbone = dict(type='CifarResNet', depth=32)
        channels = 64
        mean, std = [129.304, 124.070, 112.434], [68.170, 65.392, 70.418]
    else:
        backbone = dict(type='ResNeXt', depth=50, groups=32, width_per_group=4)
        channels = 2048
        mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    loss_cfg = dict(
        CE=dict(type='CrossEntropyLoss', loss_weight=1.0),
        GALA=dict(
            type='GALALoss', num_classes=num_classes, lambda1=1.2,
            lambda2=0.9),
        **{'LORT-stage2': dict(type='LORTLoss', eps=0.98)})[loss]
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type=('FrozenFeatureClassifier'
                  if loss == 'LORT-stage2' else 'ImageClassifier'),
            data_preprocessor=dict(
                type='ClsDataPreprocessor', mean=mean, std=std),
            backbone=backbone,
            neck=dict(type='GlobalAveragePooling'),
            head=dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=channels,
                loss=loss_cfg)))
    model.init_weights()
    return model.to(device).train()


def throughput(device: str, precisions: Sequence[str], models: dict,
               iterations: int, warmup: int) -> dict:
    from types import SimpleNamespace

    import torch
    from mmengine.logging import MessageHub
    from mmengine.optim import AmpOptimWrapper, OptimWrapper

    from mmlt.datasets import long_tail_class_counts
    from mmlt.engine.hooks import AccumulatedGradientHook
    from mmlt.experiments.throughput import (synthetic_batch,
                                             training_throughput)

    rows = []
    for arch, spec in models.items():
        data = synthetic_batch(spec['batch_size'], spec['image_size'],
                               spec['num_classes'], device)
        for precision in precisions:
            for loss in THROUGHPUT_LOSSES:
                model = throughput_model(arch, loss, spec['num_classes'],
                                         device)
                optimizer = torch.optim.SGD(
                    [p for p in model.parameters() if p.requires_grad],
                    lr=0.01,
                    momentum=0.9,
                    weight_decay=5e-4)
                optim_wrapper = (
                    OptimWrapper(optimizer) if precision == 'float32' else
                    AmpOptimWrapper(optimizer=optimizer, dtype=precision))
                before_step = after_step = None
                if loss == 'GALA':
                    hook = AccumulatedGradientHook(
                        interval=50,
                        train_class_counts=long_tail_class_counts(
                            spec['num_classes'], 500, 100))
                    runner = SimpleNamespace(
                        model=model,
                        optim_wrapper=optim_wrapper,
                        iter=0,
                        message_hub=MessageHub.get_instance(
                            'mmlt_gpu_check'))
                    hook.before_train(runner)

                    def before_step(hook=hook, runner=runner):
                        hook.before_train_iter(
                            runner, batch_idx=runner.iter, data_batch=data)

                    def after_step(hook=hook, runner=runner):
                        hook.after_train_iter(runner, batch_idx=runner.iter)
                        runner.iter += 1

                figures = training_throughput(model, optim_wrapper, data,
                                              iterations, warmup, before_step,
                                              after_step)
                rows.append(
                    dict(
                        model=arch,
                        loss=loss,
                        precision=precision,
                        batch_size=spec['batch_size'],
                        image_size=spec['image_size'],
                        **figures))
                del model, optimizer, optim_wrapper
                if device == 'cuda':
                    torch.cuda.empty_cache()
    for row in rows:
        base = next(r for r in rows
                    if r['model'] == row['model'] and r['loss'] == 'CE'
                    and r['precision'] == row['precision'])
        row['time_vs_CE'] = base['images_per_s'] / row['images_per_s']
    return dict(status='pass', rows=rows)


# ---------------------------------------------------------------- report


def machine_info(device: str) -> dict:
    """:func:`mmlt.experiments.machine_info` plus CUDA, the losses'
    ``backend='auto'`` choice and the OpenMMLab packages (versions and
    folders: from ``--wheels`` or installed)."""
    import torch

    from mmlt.experiments import machine_info as base_machine_info
    from mmlt.ops import resolve_backend
    info = base_machine_info(torch.get_num_threads(), [device])
    info.update(
        cuda=torch.version.cuda,
        loss_backend=resolve_backend('auto', torch.empty(1, device=device),
                                     'gpu_check'))
    for name in ('triton', 'mmengine', 'mmcv', 'mmpretrain'):
        try:
            module = __import__(name)
            info[name] = module.__version__
            info[f'{name}_path'] = osp.dirname(module.__file__)
        except ImportError:
            info[name] = None
    return info


def format_table(report: dict) -> str:
    from mmlt.experiments import text_table
    steps = []
    for name, step in report['steps'].items():
        detail = ''
        if name == 'cuda_tests':
            detail = step.get('summary', '')
        elif name == 'fp16_overflow' and 'outcome' in step:
            detail = f'{step["precision"]}: {step["outcome"]}'
        elif name == 'amp_training':
            detail = f'loss backend {report["machine"]["loss_backend"]}'
        steps.append([name, step['status'], str(step['seconds']), detail])
    lines = [
        f'GPU check on {report["machine"]["cuda_device"] or "CPU (dry run)"}, '
        f'{report["seconds"]} s (target <= {TIME_TARGET_S} s)', '',
        text_table([('step', '<15'), ('status', '<8'), ('s', '>6'),
                    ('detail', '')], steps)
    ]
    runs = report['steps'].get('amp_training', {}).get('runs', [])
    if runs:
        lines += ['', text_table(
            [('model', '<12'), ('precision', '<9'), ('final loss', '>10'),
             ('stats vs fp32', '>13'), ('resume exact', '>12'),
             ('status', '')],
            [[r['model'], r['precision'], f'{r["final_loss"]:.4f}',
              '-' if r.get('stats_rel_diff_vs_float32') is None else
              f'{r["stats_rel_diff_vs_float32"]:.2e}',
              str(r['resume_bit_exact']), r['status']] for r in runs])]
    rows = report['steps'].get('throughput', {}).get('rows', [])
    if rows:
        lines += ['', text_table(
            [('model', '<15'), ('loss', '<12'), ('precision', '<9'),
             ('images/s', '>10'), ('x CE time', '>9'), ('peak MiB', '>9')],
            [[r['model'], r['loss'], r['precision'],
              f'{r["images_per_s"]:.1f}', f'{r["time_vs_CE"]:.3f}',
              '-' if r['peak_memory_mib'] is None else
              f'{r["peak_memory_mib"]:.0f}'] for r in rows])]
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.wheels:
        install_wheels_and_restart(args.wheels, argv)
    # cuBLAS needs this for torch.use_deterministic_algorithms(True)
    # (training steps)
    os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
    import torch

    import mmlt  # noqa: F401  (registries)

    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit('gpu_check: CUDA is not available; use --dry-run '
                         'to run the CPU version of the check.')
    device = 'cpu' if args.dry_run else 'cuda'
    precisions = ('float32', ) if args.dry_run else ('float32', ) + AMP_DTYPES
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    report = dict(
        schema_version=SCHEMA_VERSION,
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(),
        dry_run=args.dry_run,
        wheels_installed=os.environ.get(WHEELS_ENV_VAR, '').split(),
        machine=machine_info(device),
        steps={})
    start = time.perf_counter()
    if args.dry_run:
        sizes, iterations, warmup = THROUGHPUT_DRY, 1, 1
        throughput_precisions = ('float32', )
    else:
        sizes, iterations, warmup = THROUGHPUT_MODELS, args.iterations, 3
        throughput_precisions = ('float32', 'float16')
    overflow_precision = 'float32' if args.dry_run else 'float16'
    steps = dict(
        cuda_tests=lambda: cuda_tests(args.tests),
        amp_training=lambda: amp_training(precisions),
        fp16_overflow=lambda: fp16_overflow(overflow_precision),
        overhead=lambda: overhead(device, out_dir),
        throughput=lambda: throughput(device, throughput_precisions, sizes,
                                      iterations, warmup))
    for name, fn in steps.items():
        if name in args.skip:
            report['steps'][name] = dict(status='skipped', seconds=0.0)
        else:
            run_step(report, name, fn)
    report['seconds'] = round(time.perf_counter() - start, 1)
    report['status'] = 'fail' if any(
        s['status'] == 'fail' for s in report['steps'].values()) else 'pass'
    with open(args.out, 'w') as f:
        json.dump(report, f, indent=1, default=str)
    print(format_table(report))
    print(f'JSON: {args.out}')
    for name, step in report['steps'].items():
        if 'error' in step:
            print(f'--- {name}:\n{step["error"]}')
    return report


if __name__ == '__main__':
    sys.exit(0 if main()['status'] == 'pass' else 1)
