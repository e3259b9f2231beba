"""Accuracy of mmlt's long-tail methods on one backbone and one schedule.

For every imbalance factor (default 100 and 10) and every training seed
(default 0, 1, 2) the script trains, with MMEngine's runner and the
experiment layer :mod:`mmlt.experiments`, the recipes of
:mod:`mmlt.experiments.recipes` (all on the base config's backbone,
schedule and data): CE, LogitAdjust loss, Balanced Softmax, LDAM-DRW, GALA
(lambdas on val) and CE stage 1 -> LORT stage 2 (the ``ce`` model's
classifier re-trained on its frozen features, eps on val). The rows
(:data:`ROWS`) are each training's plain predictions, plus CE and GALA with
GALA's prediction re-balancing and CE with post-hoc logit adjustment (tau
on val).

Every choice is made on the dataset config's validation split (refused if
it shares a sample with the test split), by the highest validation mean
per-class accuracy (the smallest grid value on ties), and the test logits
of a model are computed after all its choices
(:func:`mmlt.experiments.choose_then_test`). The test figures are top-1,
mean per-class, many / medium / few-shot accuracy and ECE
(:class:`LongTailAccuracy`; re-balancing is transductive over the
evaluated split, as in GALA's paper). The script writes ``<name>.json``
(every run, every validation table, the choices and why), ``<name>.md``
(mean +- sample standard deviation over seeds) and ``<name>.png`` (grouped
bars) to ``--out-dir``.

The defaults are Fashion-MNIST-LT (``configs/_base_/datasets/
fashion-mnist-lt.py``: at most 500 images per class from the first 50,000
training images, validation = the last 10,000 training images, test = the
10,000 test images) with the 3-conv CNN of ``configs/demo``. Any MMPretrain
config works: ``--base-config`` is a plain cross-entropy config (model,
schedule, data; its head must be linear), ``--dataset-config`` replaces its
dataloaders and data pre-processor, ``--cfg-options`` applies to every run,
e.g. for a GPU-scale comparison on CIFAR-100-LT::

    python benchmarks/accuracy.py \\
        --base-config configs/baselines/resnet32_cifar100-lt-ir100_ce.py \\
        --dataset-config configs/benchmarks/cifar100-lt_val-split.py \\
        --imbalance-factors 100 --workers 1 --threads 8 --name cifar100-lt

Usage::

    python benchmarks/accuracy.py --quick   # ~5 min on 2 CPU cores
    python benchmarks/accuracy.py           # ~30 min on 2 CPU cores
"""
import argparse
import multiprocessing
import os
import os.path as osp
import sys
import time
import uuid
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.registry import DefaultScope

import mmlt  # noqa: F401  (registries and compat patches)
from mmlt.datasets.fashion_mnist_debian import (DEBIAN_SOURCE_DIR,
                                                DEFAULT_DATA_ROOT,
                                                prepare_fashion_mnist)
from mmlt.evaluation.shot_groups import shot_group_masks
from mmlt.experiments import (METRIC_KEYS, SELECTION_RULE, TABLE_COLUMNS,
                              add_tau_argument, build_split_loader,
                              check_held_out, choose_then_test, collect_split,
                              format_figure, load_runner, loader_metainfo,
                              machine_info, markdown_table, mean_std,
                              plot_grouped_bars, train, train_candidates,
                              write_json)
from mmlt.experiments.recipes import (LDAM, LORT_STAGE2, TRAININGS,
                                      base_config, check_split_counts,
                                      fixed_reason, paper_ratio_eps,
                                      training_config)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CE_CONFIG = osp.join(REPO_ROOT, 'configs', 'demo',
                     'ce_smallconvnet_fashion-mnist-lt.py')

SCHEMA_VERSION = 1
TAUS = tuple(0.25 * i for i in range(9))  # 0, 0.25, ..., 2
# Settings of the two modes; command-line arguments override them.
MODES = dict(
    full=dict(
        epochs=None,  # the base config's (30 for Fashion-MNIST-LT)
        stage2_epochs=20,
        val_size=None,
        test_size=None,
        gala_lambdas=((1.0, 1.0), (1.2, 0.9)),
        lort_eps=(0.5, 0.7, 'paper', 0.9),
        name='accuracy'),
    quick=dict(
        epochs=5,
        stage2_epochs=4,
        val_size=2000,
        test_size=5000,
        gala_lambdas=((1.0, 1.0), ),
        lort_eps=('paper', ),
        name='accuracy_quick'),
)
SWEPT = dict(gala='(lambda1, lambda2)', lort='eps')  # chosen on val
# (row label, training, post-hoc re-balancing method chosen on val or None)
ROWS = (
    ('CE', 'ce', None),
    ('CE + re-balancing', 'ce', 'PredictionRebalancing'),
    ('CE + post-hoc logit adjustment', 'ce', 'PosthocLogitAdjustment'),
    ('LogitAdjust loss', 'logit_adjust', None),
    ('Balanced Softmax', 'balanced_softmax', None),
    ('LDAM-DRW', 'ldam_drw', None),
    ('GALA', 'gala', None),
    ('GALA + re-balancing', 'gala', 'PredictionRebalancing'),
    ('CE stage 1 -> LORT stage 2', 'lort', None),
)


# --------------------------------------------------------------------------
# one (imbalance factor, seed) job
# --------------------------------------------------------------------------
def sweep_values(name: str, job: dict) -> list:
    """Grid of the hyper-parameter that training ``name`` sweeps on the
    validation split (``[None]`` for none)."""
    if name == 'gala':
        return [tuple(pair) for pair in job['gala_lambdas']]
    if name == 'lort':
        return list(job['lort_eps'])
    return [None]


def run_training(name: str, job: dict, cfg: Config, loaders: dict,
                 counts: Sequence[int],
                 stage1_checkpoint: Optional[str] = None) -> dict:
    """Train ``name`` for every value of its sweep, make the choices on the
    validation split, then evaluate the chosen model on the test split
    (:func:`choose_then_test`).

    Returns:
        dict: ``chosen`` (value), ``choices`` (what was chosen, how, and
        the validation tables), ``candidates`` (checkpoint, validation
        figures and training time of each value), ``checkpoint`` and
        ``test`` (test figures per row kind: ``'plain'`` and each post-hoc
        method).
    """
    values = sweep_values(name, job)
    label = f'{job["tag"]}-{name}'

    def make_config(value) -> Config:
        run_cfg = training_config(name, cfg, value, stage1_checkpoint,
                                  job['stage2_epochs'])
        run_cfg.work_dir = osp.join(job['work_dir'], name)
        if len(values) > 1:
            run_cfg.work_dir = osp.join(run_cfg.work_dir, value_name(value))
        return run_cfg

    def run_label(value) -> str:
        return label if value is None else f'{label}-{value_name(value)}'

    runners = {}

    def record(candidate, split: str):
        if id(candidate) not in runners:
            runners[id(candidate)] = load_runner(
                candidate.cfg, candidate.checkpoint,
                f'{run_label(candidate.value)}-eval')
        return collect_split(runners[id(candidate)].model, loaders[split],
                             split)

    candidates = train_candidates(
        None if values == [None] else values, make_config,
        lambda run_cfg, value: train(run_cfg, f'{run_label(value)}-train'))
    posthoc = [m for _, training, m in ROWS if training == name and m]
    result = choose_then_test(
        candidates, lambda c: record(c, 'val'), lambda c: record(c, 'test'),
        {method: job['taus'] for method in posthoc},
        parameter=SWEPT.get(name, 'value'))
    choices = result['choices']
    if len(values) == 1 and values[0] is not None:
        choices.insert(
            0,
            dict(
                parameter=SWEPT[name],
                grid=values,
                rule=fixed_reason(name, values[0], len(counts)),
                chosen=values[0]))
    validation = result['validation'] or [None] * len(candidates)
    chosen = result['candidate']
    return dict(
        chosen=chosen.value,
        checkpoint=chosen.checkpoint,
        choices=choices,
        candidates=[
            dict(
                value=c.value,
                checkpoint=c.checkpoint,
                train_seconds=c.train_seconds,
                val_plain=v) for c, v in zip(candidates, validation)
        ],
        train_seconds=sum(c.train_seconds for c in candidates),
        test=result['test'])


def value_name(value) -> str:
    """Directory / log name of a swept value."""
    if isinstance(value, (tuple, list)):
        return 'lambda=' + ','.join(f'{v:g}' for v in value)
    return f'eps={value:g}'


def run_trainings(job: dict, cfg: Config) -> Tuple[Dict[str, dict], dict]:
    """The trainings of one job (see :func:`run_training`) from its
    cross-entropy config ``cfg``, and facts about its data."""
    check_held_out(
        cfg.val_dataloader.dataset, cfg.test_dataloader.dataset,
        f'The dataset config {job["dataset_config"] or job["base_config"]} '
        '(use one with a held-out val_dataloader, e.g. '
        'configs/benchmarks/cifar100-lt_val-split.py)')
    loaders = {
        split: build_split_loader(cfg, split, job[f'{split}_size'], seed=0)
        for split in ('val', 'test')
    }
    metas = {split: loader_metainfo(ld) for split, ld in loaders.items()}
    counts = check_split_counts(cfg, metas['val'], metas['test'])
    job = dict(
        job,
        lort_eps=sorted({
            paper_ratio_eps(len(counts)) if eps == 'paper' else eps
            for eps in job['lort_eps']
        }))
    trainings = {}
    for name in job['methods']:
        print(f'[{job["tag"]}] {name} ...', flush=True)
        stage1 = trainings['ce']['checkpoint'] if name == 'lort' else None
        trainings[name] = run_training(name, job, cfg, loaders, counts,
                                       stage1)
    info = dict(
        train_class_counts=counts,
        classes=list(metas['test'].get('classes') or []),
        num_val=len(loaders['val'].dataset),
        num_test=len(loaders['test'].dataset),
        epochs=cfg.train_cfg.max_epochs,
        lort_eps=job['lort_eps'])
    return trainings, info


def run_job(job: dict) -> dict:
    """Run every training of one (imbalance factor, seed) job; return its
    choices and test figures (see :func:`run_training`)."""
    torch.set_num_threads(job['threads'])
    start = time.time()
    with warnings.catch_warnings():
        if job['log_level'] != 'INFO':  # the libraries' deprecation notices
            warnings.simplefilter('ignore')
        cfg = base_config(job['base_config'], job['work_dir'], job['seed'],
                          job['dataset_config'], job['imbalance_factor'],
                          job['cfg_options'], job['epochs'], job['log_level'])
        with DefaultScope.overwrite_default_scope(
                cfg.get('default_scope', 'mmpretrain')):
            trainings, info = run_trainings(job, cfg)
    rows = {}
    for label, name, method in ROWS:
        if name in trainings:
            rows[label] = trainings[name]['test'][method or 'plain']
    print(f'[{job["tag"]}] done in {time.time() - start:.0f} s', flush=True)
    return dict(
        imbalance_factor=job['imbalance_factor'],
        seed=job['seed'],
        **info,
        trainings=trainings,
        rows=rows,
        wall_seconds=time.time() - start)


# --------------------------------------------------------------------------
# aggregation and outputs
# --------------------------------------------------------------------------
def chosen_values(job: dict, label: str) -> Dict[str, str]:
    """The values chosen on validation for one row of one job, by
    parameter (``'lambda'``, ``'eps'``, ``'tau'``)."""
    _, name, method = next(row for row in ROWS if row[0] == label)
    training = job['trainings'][name]
    chosen = {}
    if name == 'gala':
        chosen['lambda'] = '({:g}, {:g})'.format(*training['chosen'])
    if name == 'lort':
        chosen['eps'] = f'{training["chosen"]:g}'
    if method:
        chosen['tau'] = '{:g}'.format(
            next(c['chosen'] for c in training['choices']
                 if c.get('method') == method))
    return chosen


def summarise(jobs: List[dict]) -> List[dict]:
    """Per imbalance factor, per row: mean and std over seeds of every
    figure, the per-seed values and the per-seed choices."""
    summary = []
    for factor in sorted({job['imbalance_factor'] for job in jobs},
                         key=lambda f: -(f or 0)):
        group = sorted((job for job in jobs
                        if job['imbalance_factor'] == factor),
                       key=lambda job: job['seed'])
        rows = []
        for label, _, _ in ROWS:
            if label not in group[0]['rows']:
                continue
            per_seed = {
                key: [job['rows'][label][key] for job in group]
                for key in METRIC_KEYS
            }
            stats = {key: mean_std(values) for key, values in per_seed.items()}
            rows.append(
                dict(
                    method=label,
                    seeds=[job['seed'] for job in group],
                    mean={key: stats[key][0]
                          for key in METRIC_KEYS},
                    std={key: stats[key][1]
                         for key in METRIC_KEYS},
                    per_seed=per_seed,
                    chosen=[chosen_values(job, label) for job in group]))
        summary.append(
            dict(
                imbalance_factor=factor,
                train_class_counts=group[0]['train_class_counts'],
                rows=rows))
    return summary


def format_table(rows: List[dict]) -> str:
    """Markdown table of one imbalance factor's summary rows."""
    return markdown_table(
        list(TABLE_COLUMNS) + ['Chosen on val (per seed)'],
        [[row['method']] + [
            format_figure(row['mean'][key], 1, row['std'][key])
            for key in METRIC_KEYS
        ] + [
            '; '.join(f'{key} ' + ', '.join(seed[key]
                                           for seed in row['chosen'])
                      for key in row['chosen'][0])
        ] for row in rows],
        [False] + [True] * len(METRIC_KEYS) + [False])


def shot_groups(counts: Sequence[int]) -> str:
    """``many / medium / few`` numbers of classes."""
    masks = shot_group_masks(np.asarray(counts))
    return ' / '.join(str(int(mask.sum())) for mask in masks.values())


def factor_title(factor: Optional[float]) -> str:
    return ('The config\'s imbalance factor'
            if factor is None else f'Imbalance factor {factor:g}')


def format_markdown(report: dict) -> str:
    """All tables, with what they are and how they were made."""
    settings = report['settings']
    epochs = report['jobs'][0]['epochs']
    lines = []
    for block in report['summary']:
        counts = block['train_class_counts']
        lines += [
            f'### {factor_title(block["imbalance_factor"])}', '',
            f'{sum(counts)} training images ({counts[0]} .. {counts[-1]} '
            f'per class), many / medium / few classes '
            f'{shot_groups(counts)}; {len(block["rows"][0]["seeds"])} seeds '
            f'({", ".join(str(s) for s in block["rows"][0]["seeds"])}); '
            'mean ± sample std over seeds.', '',
            format_table(block['rows']), ''
        ]
    lines.append(
        f'Accuracy and ECE (15 bins) in %; test split of '
        f'{report["jobs"][0]["num_test"]} images, choices on a validation '
        f'split of {report["jobs"][0]["num_val"]} images by the '
        f'{SELECTION_RULE}. Tau grid {format_grid(settings["taus"])}; GALA '
        f'(lambda1, lambda2) grid {settings["gala_lambdas"]}; LORT eps grid '
        f'{report["jobs"][0]["lort_eps"]}. Fixed: {epochs} epochs; '
        'LogitAdjust loss tau 1; LDAM-DRW max margin '
        f'{LDAM["max_margin"]}, s {LDAM["scale"]:g}, DRW from epoch '
        f'{int(LDAM["drw_fraction"] * epochs)} (0-based), beta '
        f'{LDAM["drw_beta"]}; LORT stage 2 {settings["stage2_epochs"]} '
        f'epochs, SGD lr {LORT_STAGE2["lr"]:g}, momentum '
        f'{LORT_STAGE2["momentum"]}, no weight decay, cosine.')
    return '\n'.join(lines)


def format_grid(values: Sequence[float]) -> str:
    return '{' + ', '.join(f'{v:g}' for v in values) + '}'


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------
def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Accuracy of the long-tail methods (CE, post-hoc logit '
        'adjustment, LogitAdjust loss, Balanced Softmax, LDAM-DRW, GALA, '
        'GALA + re-balancing, CE -> LORT stage 2) over seeds and imbalance '
        'factors.')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='short schedule and validation / test subsets (~5 min)')
    parser.add_argument(
        '--base-config',
        default=CE_CONFIG,
        help='plain cross-entropy config (model, schedule, data)')
    parser.add_argument(
        '--dataset-config',
        help='config whose dataloaders and data_preprocessor replace the '
        "base config's; it needs a validation split held out from the "
        'training data')
    parser.add_argument(
        '--imbalance-factors',
        nargs='+',
        default=['100', '10'],
        help="imbalance factors, set on all three splits, or 'config'")
    parser.add_argument(
        '--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument(
        '--methods',
        nargs='+',
        choices=TRAININGS,
        default=list(TRAININGS),
        help='trainings to run (lort needs ce)')
    parser.add_argument('--epochs', type=int, help='training epochs')
    parser.add_argument(
        '--stage2-epochs', type=int, help='LORT stage-2 epochs')
    parser.add_argument(
        '--val-size',
        type=int,
        help='evaluate a random subset of the validation split')
    parser.add_argument(
        '--test-size', type=int, help='evaluate a random subset of the test '
        'split')
    add_tau_argument(parser, TAUS, 'tau grid of both post-hoc methods')
    parser.add_argument(
        '--gala-lambdas',
        nargs='+',
        help="GALA (lambda1, lambda2) grid as 'l1,l2' items")
    parser.add_argument(
        '--lort-eps',
        nargs='+',
        help="LORT eps grid; 'paper': the eps with the paper's "
        'true-to-other target ratio (0.98 on 100 classes)')
    parser.add_argument(
        '--workers',
        type=int,
        default=2,
        help='parallel (imbalance factor, seed) jobs (processes)')
    parser.add_argument(
        '--threads', type=int, default=1, help='torch threads per worker')
    parser.add_argument(
        '--out-dir',
        default=osp.join(REPO_ROOT, 'benchmarks', 'results'),
        help='where <name>.json / .md / .png go')
    parser.add_argument('--name', help='output file name stem')
    parser.add_argument(
        '--work-dir',
        default=osp.join(REPO_ROOT, 'work_dirs', 'accuracy_benchmark'),
        help='checkpoints and logs')
    parser.add_argument(
        '--data-root',
        default=osp.join(REPO_ROOT, DEFAULT_DATA_ROOT),
        help='decompressed Fashion-MNIST (default config only)')
    parser.add_argument(
        '--src',
        default=DEBIAN_SOURCE_DIR,
        help="directory of Debian's gzipped Fashion-MNIST files")
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='overrides applied to every run, xxx=yyy format')
    parser.add_argument(
        '--verbose', action='store_true', help="print MMEngine's logs")
    return parser.parse_args(argv)


def resolve_settings(args: argparse.Namespace) -> dict:
    """The mode's settings with the command line's overrides."""
    mode = MODES['quick' if args.quick else 'full']
    settings = dict(mode)
    for key in ('epochs', 'stage2_epochs', 'val_size', 'test_size', 'name'):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if args.gala_lambdas:
        try:
            settings['gala_lambdas'] = tuple(
                tuple(float(v) for v in item.split(','))
                for item in args.gala_lambdas)
        except ValueError:
            settings['gala_lambdas'] = ()
        if any(len(pair) != 2 for pair in settings['gala_lambdas']) or (
                not settings['gala_lambdas']):
            raise ValueError("--gala-lambdas takes 'lambda1,lambda2' items, "
                             f'got {args.gala_lambdas}.')
    if args.lort_eps:
        settings['lort_eps'] = tuple(
            eps if eps == 'paper' else float(eps) for eps in args.lort_eps)
    factors = []
    for item in args.imbalance_factors:
        if item == 'config':
            factors.append(None)
            continue
        try:
            factors.append(float(item))
        except ValueError:
            raise ValueError(f"--imbalance-factors takes numbers or 'config'"
                             f', got {item!r}.') from None
        if factors[-1] < 1:
            raise ValueError(f'An imbalance factor must be >= 1, got {item}.')
    settings['imbalance_factors'] = factors
    settings['taus'] = args.taus
    methods = list(dict.fromkeys(args.methods))
    if 'lort' in methods and 'ce' not in methods:
        methods.insert(0, 'ce')  # stage 1
    settings['methods'] = [m for m in TRAININGS if m in methods]
    return settings


def make_jobs(args: argparse.Namespace, settings: dict) -> List[dict]:
    options = {}
    if args.dataset_config is None and osp.abspath(
            args.base_config) == osp.abspath(CE_CONFIG):
        prepare_fashion_mnist(
            args.data_root,
            args.src,
            check_counts=args.src == DEBIAN_SOURCE_DIR)
        for split in ('train', 'val', 'test'):
            options[f'{split}_dataloader.dataset.dataset.data_root'] = \
                osp.abspath(args.data_root)
    options.update(args.cfg_options)
    run_id = uuid.uuid4().hex[:6]
    jobs = []
    for factor in settings['imbalance_factors']:
        for seed in args.seeds:
            key = f'if{factor:g}' if factor is not None else 'ifconfig'
            jobs.append(
                dict(
                    tag=f'{run_id}-{key}-seed{seed}',
                    base_config=args.base_config,
                    dataset_config=args.dataset_config,
                    imbalance_factor=factor,
                    seed=seed,
                    cfg_options=options,
                    epochs=settings['epochs'],
                    stage2_epochs=settings['stage2_epochs'],
                    val_size=settings['val_size'],
                    test_size=settings['test_size'],
                    taus=settings['taus'],
                    gala_lambdas=settings['gala_lambdas'],
                    lort_eps=list(settings['lort_eps']),
                    methods=settings['methods'],
                    threads=args.threads,
                    log_level='INFO' if args.verbose else 'WARNING',
                    work_dir=osp.join(args.work_dir, key, f'seed{seed}')))
    return jobs


def run_jobs(jobs: List[dict], workers: int) -> List[dict]:
    """Run the jobs, in ``workers`` spawned processes if more than one."""
    if workers <= 1 or len(jobs) == 1:
        return [run_job(job) for job in jobs]
    # the costliest (largest training set, i.e. smallest factor) first
    order = sorted(
        range(len(jobs)),
        key=lambda i: (jobs[i]['imbalance_factor'] or 0))
    context = multiprocessing.get_context('spawn')
    with context.Pool(min(workers, len(jobs)), maxtasksperchild=1) as pool:
        results = pool.map(run_job, [jobs[i] for i in order], chunksize=1)
    out = [None] * len(jobs)
    for i, result in zip(order, results):
        out[i] = result
    return out


def main(argv: Optional[Sequence[str]] = None) -> dict:
    """Run the benchmark; return what is written to ``<name>.json``."""
    start = time.time()
    args = parse_args(argv)
    settings = resolve_settings(args)
    os.environ.setdefault('OMP_NUM_THREADS', str(args.threads))
    torch.set_num_threads(args.threads)
    jobs = make_jobs(args, settings)
    print(f'{len(jobs)} jobs (imbalance factor x seed), {args.workers} '
          f'worker(s) x {args.threads} thread(s); methods '
          f'{", ".join(settings["methods"])}', flush=True)
    results = run_jobs(jobs, args.workers)
    summary = summarise(results)
    report = dict(
        schema_version=SCHEMA_VERSION,
        benchmark='accuracy',
        command='python ' + ' '.join(
            [osp.relpath(osp.abspath(__file__), REPO_ROOT)] +
            list(sys.argv[1:] if argv is None else argv)),
        machine=machine_info(
            args.threads, ['cuda'] if torch.cuda.is_available() else
            ['cpu']),
        workers=args.workers,
        settings=dict(
            settings,
            quick=args.quick,
            seeds=args.seeds,
            base_config=osp.relpath(osp.abspath(args.base_config),
                                    REPO_ROOT),
            dataset_config=args.dataset_config,
            cfg_options=args.cfg_options,
            selection_rule=SELECTION_RULE,
            ldam=LDAM,
            lort_stage2=LORT_STAGE2),
        summary=summary,
        jobs=results)
    report['table_markdown'] = format_markdown(report)
    report['wall_seconds'] = time.time() - start
    os.makedirs(args.out_dir, exist_ok=True)
    stem = osp.join(args.out_dir, settings['name'])
    plot_grouped_bars([
        dict(title=factor_title(block['imbalance_factor']),
             rows=block['rows']) for block in summary
    ], stem + '.png')
    with open(stem + '.md', 'w') as f:
        f.write(f'Command: `{report["command"]}`  \n'
                f'Machine: {report["machine"]["cpu_model"]}, '
                f'{report["machine"]["logical_cpus"]} logical CPUs, '
                f'{args.workers} worker(s) x {args.threads} thread(s); '
                f'{report["machine"]["date"]}; '
                f'{report["wall_seconds"] / 60:.1f} min.\n\n' +
                report['table_markdown'] + '\n')
    write_json(stem + '.json', report, indent=1)
    print('\n' + report['table_markdown'])
    print(f'\nWrote {stem}.json, .md and .png '
          f'({report["wall_seconds"] / 60:.1f} min).')
    return report


if __name__ == '__main__':
    main()
