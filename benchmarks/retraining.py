"""Speed of the classifier re-training study on cached features.

Measured in one process, timings as process CPU time (time lost to other
processes on a shared machine does not count) with the elapsed time next
to it:

1. extraction: building the feature cache of CONFIG / CHECKPOINT (train,
   val and test splits), seconds per image;
2. grid: training a G = 8 LORT eps grid as one batched model against a
   G = 1 grid, same schedule, medians of ``--repeats`` interleaved runs;
3. study against configs: the whole study (every method, its grid, GALA
   on top, choices and test; extraction included) against the same
   methods through stage-2 configs, estimated from ONE measured stage-2
   config run (``FrozenFeatureClassifier``, the LORT stage-2 config,
   training plus a validation pass) times the number of trained
   candidates, plus one measured test pass per method (the post-hoc
   methods and GALA are counted as free, which favours the configs);
4. ``--imagenet-shape``: G = 8 against G = 1 per training iteration on
   random ImageNet-LT-shaped features (115,846 x 2,048, 1,000 classes,
   batch 256), ``--imagenet-iters`` iterations each.

Usage::

    python benchmarks/retraining.py CONFIG CHECKPOINT [--stage2-config \\
        configs/demo/lort-stage2_smallconvnet_fashion-mnist-lt.py] \\
        [--imagenet-shape] [--out benchmarks/results/retraining.json]
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import tempfile

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import mmlt  # noqa: F401  (registries and compat patches)
from mmlt.experiments.machine import machine_info
from mmlt.experiments.timing import time_interleaved, timed
from mmlt.retraining import (RetrainingSchedule, build_feature_cache,
                             build_method, method_names, train_candidates)
from mmlt.retraining.study import run_study

STAGE2_CONFIG = 'configs/demo/lort-stage2_smallconvnet_fashion-mnist-lt.py'


def grid_ratio(features, labels, counts, weight, bias, schedule, repeats):
    """Median CPU / elapsed times of LORT with G = 8 and G = 1, timed
    interleaved."""
    grids = dict(g8=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99), g1=(0.9, ))
    samples = time_interleaved(
        {
            name: lambda grid=grid: train_candidates(
                build_method('lort', grid), features, labels, counts, weight,
                bias, schedule)
            for name, grid in grids.items()
        },
        repeats,
        warmup=0)
    median = {(name, clock): statistics.median(times)
              for name, clocks in samples.items()
              for clock, times in clocks.items()}
    return dict(
        g1_cpu_s=median['g1', 'cpu'],
        g1_wall_s=median['g1', 'wall'],
        g8_cpu_s=median['g8', 'cpu'],
        g8_wall_s=median['g8', 'wall'],
        ratio_cpu=median['g8', 'cpu'] / median['g1', 'cpu'],
        ratio_wall=median['g8', 'wall'] / median['g1', 'wall'])


def config_run(stage2_config, checkpoint, work_dir, epochs):
    """Times of one stage-2 config run (train + val) and one test pass."""
    cfg = Config.fromfile(stage2_config)
    cfg.load_from = checkpoint
    cfg.work_dir = work_dir
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    cfg.param_scheduler.end = epochs
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    runner = Runner.from_cfg(cfg)
    _, train_cpu, train_wall = timed(runner.train)
    _, test_cpu, test_wall = timed(runner.test)
    return dict(
        train_val_cpu_s=train_cpu,
        train_val_wall_s=train_wall,
        test_cpu_s=test_cpu,
        test_wall_s=test_wall)


def imagenet_shape(iters, repeats):
    """Per-iteration G = 8 / G = 1 times on random ImageNet-LT-shaped
    features."""
    generator = torch.Generator().manual_seed(0)
    num, dim, classes, batch = 115846, 2048, 1000, 256
    features = torch.empty(num, dim).normal_(generator=generator)
    labels = torch.randint(0, classes, (num, ), generator=generator).numpy()
    counts = torch.from_numpy(np.bincount(labels, minlength=classes))
    weight = torch.randn(classes, dim, generator=generator) * 0.01
    bias = torch.zeros(classes)
    subset = iters * batch  # one epoch of `iters` iterations
    schedule = RetrainingSchedule(epochs=1, lr=0.01, batch_size=batch)
    result = grid_ratio(features[:subset], labels[:subset], counts, weight,
                        bias, schedule, repeats)
    result.update(
        shape=[num, dim],
        num_classes=classes,
        batch_size=batch,
        iterations=iters,
        g1_cpu_s_per_iter=result['g1_cpu_s'] / iters,
        g8_cpu_s_per_iter=result['g8_cpu_s'] / iters)
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='stage-1 config')
    parser.add_argument('checkpoint', help='stage-1 checkpoint')
    parser.add_argument('--stage2-config', default=STAGE2_CONFIG)
    parser.add_argument('--epochs', type=int, default=20)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--imagenet-shape', action='store_true')
    parser.add_argument('--imagenet-iters', type=int, default=20)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument(
        '--out', default='benchmarks/results/retraining.json')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    report = dict(machine=machine_info(args.threads, ['cpu']))
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Config.fromfile(args.config)
        cfg.work_dir = osp.join(tmp, 'extract')
        cfg.launcher = 'none'
        cache, cpu, wall = timed(lambda: build_feature_cache(
            cfg, args.checkpoint, osp.join(tmp, 'cache')))
        images = sum(cache.meta['sizes'].values())
        report['extraction'] = dict(
            images=images,
            cpu_s=cpu,
            wall_s=wall,
            cpu_ms_per_image=1000 * cpu / images,
            wall_ms_per_image=1000 * wall / images)
        schedule = RetrainingSchedule(
            epochs=args.epochs,
            batch_size=cfg.train_dataloader.batch_size,
            seed=cfg.get('randomness', {}).get('seed') or 0)
        features = torch.from_numpy(
            np.array(cache.features('train'), dtype=np.float32))
        weight, bias = cache.head()
        report['grid'] = grid_ratio(features, cache.labels('train'),
                                    torch.from_numpy(cache.train_class_counts),
                                    weight, bias, schedule, args.repeats)
        methods = {name: build_method(name) for name in method_names()}
        _, study_cpu, study_wall = timed(
            lambda: run_study(methods, cache, schedule))
        trained = sum(len(m.grid) for m in methods.values() if m.trains)
        run = config_run(args.stage2_config, args.checkpoint,
                         osp.join(tmp, 'stage2'), args.epochs)
        configs_cpu = (trained * run['train_val_cpu_s'] +
                       len(methods) * run['test_cpu_s'])
        configs_wall = (trained * run['train_val_wall_s'] +
                        len(methods) * run['test_wall_s'])
        report['study'] = dict(
            methods=list(methods),
            trained_candidates=trained,
            study_cpu_s=study_cpu + cpu,
            study_wall_s=study_wall + wall,
            one_config_run=run,
            configs_estimate_cpu_s=configs_cpu,
            configs_estimate_wall_s=configs_wall,
            speedup_cpu=configs_cpu / (study_cpu + cpu),
            speedup_wall=configs_wall / (study_wall + wall))
    if args.imagenet_shape:
        report['imagenet_shape'] = imagenet_shape(args.imagenet_iters,
                                                  args.repeats)
    extraction, grid, study = (report[k]
                               for k in ('extraction', 'grid', 'study'))
    rows = [
        ('extraction, per image (ms)', extraction['cpu_ms_per_image'],
         extraction['wall_ms_per_image'], ''),
        ('LORT grid G = 1 (s)', grid['g1_cpu_s'], grid['g1_wall_s'], ''),
        ('LORT grid G = 8 (s)', grid['g8_cpu_s'], grid['g8_wall_s'],
         f'{grid["ratio_cpu"]:.2f}x G = 1'),
        (f'whole study, {study["trained_candidates"]} trained candidates, '
         'extraction included (s)', study['study_cpu_s'],
         study['study_wall_s'], ''),
        ('same through stage-2 configs, estimated from 1 run (s)',
         study['configs_estimate_cpu_s'], study['configs_estimate_wall_s'],
         f'{study["speedup_cpu"]:.1f}x the study'),
    ]
    if args.imagenet_shape:
        shape = report['imagenet_shape']
        rows += [('ImageNet-LT shape, G = 1, per iteration (s)',
                  shape['g1_cpu_s_per_iter'],
                  shape['g1_wall_s'] / shape['iterations'], ''),
                 ('ImageNet-LT shape, G = 8, per iteration (s)',
                  shape['g8_cpu_s_per_iter'],
                  shape['g8_wall_s'] / shape['iterations'],
                  f'{shape["ratio_cpu"]:.2f}x G = 1')]
    lines = ['| Measurement | CPU | Elapsed | Ratio |', '|---|---:|---:|---:|']
    lines += [
        f'| {name} | {cpu:.3f} | {wall:.3f} | {ratio} |'
        for name, cpu, wall, ratio in rows
    ]
    print('\n'.join(lines))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(report, f, indent=1)
    print(f'Written to {args.out}', file=sys.stderr)
    return report


if __name__ == '__main__':
    main()
