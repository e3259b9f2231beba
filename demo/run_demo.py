"""Offline long-tailed classification demo on Fashion-MNIST-LT.

``make demo`` (or ``python demo/run_demo.py``) runs, on the CPU:

1. decompress Debian's ``dataset-fashion-mnist`` into ``data/fashion-mnist``;
2. train with MMEngine's :class:`Runner`, one config of ``configs/demo`` per
   method: cross-entropy (CE), GALA, and LORT's stage 2, which re-trains the
   linear head of the *same* CE model on its frozen features;
3. choose the exponent tau of GALA's prediction re-balancing (for CE and
   GALA) and LORT's smoothing eps on the validation split of the dataset
   config (the last 10,000 Fashion-MNIST *training* images, disjoint from
   the long-tailed training subset drawn from the first 50,000); the test
   set is never used for a choice;
4. evaluate every model on the balanced 10,000-image test set and print a
   Markdown table (overall, mean-per-class, many / medium / few-shot
   accuracy, ECE), then write ``results.json`` and a plot of per-class
   accuracy against training images per class to ``--out-dir``.

The functions (:func:`load_config`, :func:`train`, :func:`validate`,
:func:`evaluate`, :func:`train_and_evaluate`, ...) take a config and a work
directory, so benchmark scripts can reuse them for other methods, seeds and
imbalance factors.
"""
import argparse
import copy
import json
import os
import os.path as osp
import sys
import time
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

if __package__ in (None, ''):  # run as a script: make `demo` importable
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmengine  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmlt  # noqa: E402,F401  (registries and compat patches)
from demo.prepare_fashion_mnist import (DEBIAN_SOURCE_DIR,  # noqa: E402
                                        DEFAULT_DATA_ROOT,
                                        prepare_fashion_mnist)
from mmlt.evaluation import LongTailAccuracy  # noqa: E402
from mmlt.evaluation.rebalancing import collect_logits, tau_sweep  # noqa
from mmlt.evaluation.rebalancers import PredictionRebalancing  # noqa

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'demo')
CE_CONFIG = osp.join(CONFIG_DIR, 'ce_smallconvnet_fashion-mnist-lt.py')
GALA_CONFIG = osp.join(CONFIG_DIR, 'gala_smallconvnet_fashion-mnist-lt.py')
LORT_CONFIG = osp.join(CONFIG_DIR,
                       'lort-stage2_smallconvnet_fashion-mnist-lt.py')
DEFAULT_TAUS = [round(0.1 * i, 1) for i in range(21)]  # 0.0, 0.1, ..., 2.0
METRIC_KEYS = ('top1', 'mean_class_acc', 'many', 'medium', 'few', 'ece')
TABLE_COLUMNS = ('Method', 'Overall', 'Mean/class', 'Many', 'Medium', 'Few',
                 'ECE')


def load_config(config: str,
                work_dir: str,
                seed: int = 0,
                cfg_options: Optional[dict] = None,
                max_epochs: Optional[int] = None) -> Config:
    """Load ``config`` for a run in ``work_dir`` with training seed ``seed``.

    Args:
        config (str): Path of an MMEngine config.
        work_dir (str): Directory of checkpoints, logs and the dumped config.
        seed (int): Seed of initialisation, shuffling and augmentation
            (``randomness.seed``). The long-tailed subset has its own seed in
            the dataset config. Defaults to 0.
        cfg_options (dict, optional): Overrides, as ``--cfg-options`` of
            ``tools/train.py``. Defaults to None.
        max_epochs (int, optional): Shorten (or lengthen) the schedule (see
            :func:`max_epochs_options`). Defaults to None (the config's
            schedule).

    Returns:
        Config: The config, with ``work_dir`` and ``randomness`` set.
    """
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed, deterministic=False)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if max_epochs is not None:
        cfg.merge_from_dict(max_epochs_options(cfg, max_epochs))
    return cfg


def max_epochs_options(cfg: Config, max_epochs: int) -> Dict:
    """``--cfg-options`` that change an epoch-based schedule to
    ``max_epochs`` epochs: ``train_cfg.max_epochs``, and every validation
    interval, checkpoint interval and parameter scheduler ``end`` that was the
    old last epoch.

    Args:
        cfg (Config): The config.
        max_epochs (int): The new number of epochs.

    Returns:
        dict: Keys in ``merge_from_dict`` format and their new values.
    """
    if max_epochs < 1:
        raise ValueError(f'max_epochs must be positive, got {max_epochs}.')
    old = cfg.train_cfg.max_epochs
    options = {'train_cfg.max_epochs': max_epochs}
    if cfg.train_cfg.get('val_interval') == old:
        options['train_cfg.val_interval'] = max_epochs
    if cfg.default_hooks.get('checkpoint', {}).get('interval') == old:
        options['default_hooks.checkpoint.interval'] = max_epochs
    schedulers = cfg.param_scheduler
    if isinstance(schedulers, list):
        for i, scheduler in enumerate(schedulers):
            if scheduler.get('end') == old:
                options[f'param_scheduler.{i}.end'] = max_epochs
    elif schedulers.get('end') == old:
        options['param_scheduler.end'] = max_epochs
    return options


def train(cfg: Config, experiment_name: str) -> str:
    """Train with MMEngine's runner; return the last checkpoint's path.

    Validation during training is switched off: the validation split is used
    for the choices after training (:func:`validate`).
    """
    cfg = copy.deepcopy(cfg)
    cfg.experiment_name = experiment_name
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    runner = Runner.from_cfg(cfg)
    runner.train()
    checkpoint = osp.join(cfg.work_dir,
                          f'epoch_{cfg.train_cfg.max_epochs}.pth')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Training did not write {checkpoint}.')
    return checkpoint


def validate(cfg: Config,
             checkpoint: str,
             experiment_name: str,
             taus: Sequence[float] = (0.0, )) -> List[Dict]:
    """Figures of ``checkpoint`` on ``cfg.val_dataloader``, for each tau of
    transductive re-balancing (tau 0: the plain predictions).

    The procedure of ``tools/analysis/select_tau.py``: the validation split's
    logits, re-balanced with its own column masses.

    Returns:
        list[dict]: Per tau, ``tau`` and :class:`LongTailAccuracy`'s figures.
    """
    if cfg.val_dataloader.dataset == cfg.test_dataloader.dataset:
        raise ValueError('val_dataloader and test_dataloader use the same '
                         'dataset; choices must be made on a held-out '
                         'validation split, never on the test split.')
    cfg = copy.deepcopy(cfg)
    cfg.experiment_name = experiment_name
    cfg.load_from = checkpoint
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    dataloader = Runner.build_dataloader(cfg.val_dataloader, seed=runner.seed)
    logits, labels = collect_logits(runner.model, dataloader)
    counts = dataloader.dataset.metainfo['train_class_counts']
    return tau_sweep(logits, labels, taus, counts)


def best_row(rows: List[Dict], metric: str = 'mean_class_acc') -> Dict:
    """The row with the highest ``metric``; ties go to the first."""
    return rows[int(np.argmax([row[metric] for row in rows]))]


def evaluate(cfg: Config, checkpoint: str, experiment_name: str,
             tau: float) -> Dict:
    """Test ``checkpoint`` on ``cfg.test_dataloader`` with the runner.

    The test evaluator is :class:`RebalancedAccuracy` with ``tau`` (plain
    and re-balanced figures of one pass) plus MMEngine's ``DumpResults``,
    whose predictions give the per-class accuracies.

    Returns:
        dict: ``plain`` and ``rebalanced`` (metric dicts, each with
        ``class_acc``, the per-class accuracies in percent), and the test
        set's ``train_class_counts``, ``classes`` and ``num_test``.
    """
    cfg = copy.deepcopy(cfg)
    cfg.experiment_name = experiment_name
    cfg.load_from = checkpoint
    dump = osp.join(cfg.work_dir, 'test_predictions.pkl')
    cfg.test_evaluator = [
        dict(
            type='RebalancedAccuracy',
            rebalance=dict(type='PredictionRebalancing', tau=tau)),
        dict(type='DumpResults', out_file_path=dump)
    ]
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    predictions = mmengine.load(dump)
    logits = torch.stack([p['pred_logits'] for p in predictions])
    labels = np.array([int(p['gt_label'].reshape(-1)[0]) for p in predictions])
    probs = torch.softmax(logits.to(torch.float64), dim=1)
    metainfo = runner.test_dataloader.dataset.metainfo
    results = dict(
        train_class_counts=list(metainfo['train_class_counts']),
        classes=list(metainfo['classes']),
        num_test=len(labels))
    for name, prefix, scores in (
        ('plain', '', probs),
        ('rebalanced', 'rebalanced/',
         PredictionRebalancing(tau)(logits)),
    ):
        figures = {
            key: metrics[f'long-tail/{prefix}{key}']
            for key in METRIC_KEYS
        }
        figures['class_acc'] = LongTailAccuracy.class_accuracy(
            scores.argmax(dim=1).numpy(), labels, probs.size(1)).tolist()
        results[name] = figures
    return results


def train_and_evaluate(cfg: Config,
                       work_dir: str,
                       name: str,
                       taus: Optional[Sequence[float]] = DEFAULT_TAUS,
                       sweep: Optional[Tuple[str, Sequence]] = None) -> Dict:
    """Train ``cfg`` in ``work_dir``, make the choices on the validation
    split and evaluate on the test split.

    Args:
        cfg (Config): A config with a validation split (``val_dataloader``)
            and, for stage 2, ``load_from``.
        work_dir (str): Directory of the run.
        name (str): Short name of the run, for log names.
        taus (Sequence[float], optional): The grid of the re-balancing tau,
            chosen by validation mean-per-class accuracy. None skips the
            choice and reports re-balancing with tau 1.
        sweep (tuple[str, Sequence], optional): ``(key, values)`` of a
            config hyper-parameter, e.g. ``('model.head.loss.eps', (0.5,
            0.9))``: one training per value, in ``work_dir/<key>=<value>``,
            keeping the best by validation mean-per-class accuracy (of the
            plain predictions). Defaults to None.

    Returns:
        dict: ``checkpoint``, ``tau``, ``tau_sweep`` and ``sweep`` (the
        validation tables), ``train_seconds`` (all trainings) and the test
        figures of :func:`evaluate`.
    """
    cfg = copy.deepcopy(cfg)
    candidates = [(None, cfg, work_dir)]
    if sweep is not None:
        key, values = sweep
        candidates = []
        for value in values:
            candidate = copy.deepcopy(cfg)
            candidate.merge_from_dict({key: value})
            candidates.append(
                (value, candidate, osp.join(work_dir, f'{key}={value}')))
    start = time.time()
    trained = []
    for value, candidate, candidate_dir in candidates:
        candidate.work_dir = candidate_dir
        suffix = '' if value is None else f'-{value}'
        trained.append((value, candidate,
                        train(candidate, f'{name}{suffix}-train')))
    train_seconds = time.time() - start

    sweep_table = None
    if sweep is not None:
        sweep_table = []
        for value, candidate, checkpoint in trained:
            row = validate(candidate, checkpoint, f'{name}-{value}-val')[0]
            sweep_table.append(dict(row, value=value, checkpoint=checkpoint))
        chosen = best_row(sweep_table)
        value, cfg, checkpoint = trained[sweep_table.index(chosen)]
    else:
        _, cfg, checkpoint = trained[0]

    tau, tau_table = 1.0, None
    if taus is not None:
        tau_table = validate(cfg, checkpoint, f'{name}-select-tau', taus)
        tau = best_row(tau_table)['tau']
    results = evaluate(cfg, checkpoint, f'{name}-test', tau)
    return dict(
        checkpoint=checkpoint,
        tau=tau,
        tau_sweep=tau_table,
        sweep=sweep_table,
        train_seconds=train_seconds,
        **results)


def format_table(rows: List[Dict]) -> str:
    """A Markdown table of ``rows`` (dicts with ``method`` and the figures of
    :data:`METRIC_KEYS`)."""
    lines = [
        '| ' + ' | '.join(TABLE_COLUMNS) + ' |',
        '|' + '|'.join(['---'] + ['---:'] * (len(TABLE_COLUMNS) - 1)) + '|'
    ]
    for row in rows:
        cells = [row['method']]
        cells += [f'{row[key]:.2f}' for key in METRIC_KEYS]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot_per_class_accuracy(rows: List[Dict],
                            train_class_counts: Sequence[int],
                            class_names: Sequence[str], path: str) -> None:
    """Plot each row's per-class test accuracy against the training images
    of the class (log x axis, one line and marker per method) as a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    counts = np.asarray(train_class_counts)
    order = np.argsort(-counts, kind='stable')
    fig, ax = plt.subplots(figsize=(8, 6.5))
    for row, marker in zip(rows, 'osD^vP*X' * len(rows)):
        ax.plot(
            counts[order],
            np.asarray(row['class_acc'], dtype=float)[order],
            marker=marker,
            label=f'{row["method"]} (mean {row["mean_class_acc"]:.1f})')
    ax.set_xscale('log')
    ax.minorticks_off()
    ax.set_xticks(counts[order])
    ax.set_xticklabels([f'{counts[c]}\n{class_names[c]}' for c in order],
                       fontsize=7)
    # shot groups: few < 20 <= medium <= 100 < many
    for threshold in (19.5, 100.5):
        ax.axvline(threshold, color='grey', linestyle=':', linewidth=1)
    for x, group in ((np.sqrt(min(counts.min(), 19) * 19), 'few'),
                     (np.sqrt(20 * 100), 'medium'),
                     (np.sqrt(101 * max(counts.max(), 101)), 'many')):
        ax.text(x, 101, f'{group}-shot', ha='center', va='bottom',
                color='grey', fontsize=9)
    ax.set_xlabel('training images of the class (log scale)')
    ax.set_ylabel('test accuracy of the class (%)')
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.16), ncol=2,
              fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def command_lines(cfg: Config, config: str, work_dir: str,
                  cfg_options: Dict, choose_tau: bool,
                  sweep: Optional[Tuple[str, Sequence]] = None) -> List[str]:
    """The ``tools/`` commands equivalent to one in-process run of
    :func:`train_and_evaluate`.

    Args:
        cfg (Config): The run's config.
        config (str): Path of the config file.
        work_dir (str): The run's work directory.
        cfg_options (dict): The overrides given to the config.
        choose_tau (bool): Whether tau is chosen on the validation split.
        sweep (tuple[str, Sequence], optional): As in
            :func:`train_and_evaluate`.

    Returns:
        list[str]: Train (once per swept value), select tau, test.
    """
    config = osp.relpath(config, REPO_ROOT)
    options = {'randomness.seed': cfg.randomness.seed, **cfg_options}
    if cfg.get('load_from'):
        options['load_from'] = cfg.load_from
    checkpoint = f'epoch_{cfg.train_cfg.max_epochs}.pth'
    runs = [(work_dir, options)]
    if sweep is not None:
        key, values = sweep
        runs = [(osp.join(work_dir, f'{key}={value}'), {
            **options, key: value
        }) for value in values]
        checkpoint = osp.join(
            osp.join(work_dir, f'{key}=<best on val>'), checkpoint)
    else:
        checkpoint = osp.join(work_dir, checkpoint)
    lines = [
        f'python tools/train.py {config} --work-dir {run_dir} --cfg-options '
        + ' '.join(f'{k}={v}' for k, v in run_options.items())
        for run_dir, run_options in runs
    ]
    tau = '1.0'
    if choose_tau:
        lines.append(
            f'python tools/analysis/select_tau.py {config} {checkpoint}')
        tau = '<chosen tau>'
    lines.append(f'python tools/test.py {config} {checkpoint} --out '
                 f'{osp.dirname(checkpoint)}/test_predictions.pkl '
                 f'--cfg-options test_evaluator.rebalance.tau={tau}')
    return lines


# The demo's trainings. `init_from`: the run whose checkpoint is `load_from`
# (stage 2); `taus`: whether the re-balancing tau is chosen on validation;
# `sweep`: a hyper-parameter chosen on validation (see train_and_evaluate).
DEMO_RUNS = (
    dict(name='ce', config=CE_CONFIG, taus=True),
    dict(name='gala', config=GALA_CONFIG, taus=True),
    dict(
        name='lort',
        config=LORT_CONFIG,
        init_from='ce',
        taus=False,
        sweep=('model.head.loss.eps', (0.5, 0.7, 0.9))),
)
# Table rows: (label, run name, 'plain' or 'rebalanced')
DEMO_ROWS = (
    ('CE', 'ce', 'plain'),
    ('CE + re-balancing', 'ce', 'rebalanced'),
    ('GALA', 'gala', 'plain'),
    ('GALA + re-balancing', 'gala', 'rebalanced'),
    ('CE stage 1 -> LORT stage 2', 'lort', 'plain'),
)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Offline long-tailed demo on Fashion-MNIST-LT: CE, GALA '
        '(+ prediction re-balancing) and CE -> LORT stage 2.')
    parser.add_argument(
        '--out-dir', default='demo_output', help='results, plot, work dirs')
    parser.add_argument(
        '--data-root',
        default=DEFAULT_DATA_ROOT,
        help='where the decompressed Fashion-MNIST files go (the configs\' '
        '`data_root`)')
    parser.add_argument(
        '--src',
        default=DEBIAN_SOURCE_DIR,
        help="directory of Debian's gzipped Fashion-MNIST files")
    parser.add_argument(
        '--seed', type=int, default=0, help='training seed (default 0)')
    parser.add_argument(
        '--epochs', type=int, help='override the CE and GALA epochs')
    parser.add_argument(
        '--stage2-epochs', type=int, help='override the LORT stage-2 epochs')
    parser.add_argument(
        '--taus',
        type=float,
        nargs='+',
        default=DEFAULT_TAUS,
        help='tau grid of the re-balancing (default 0.0, 0.1, ..., 2.0)')
    parser.add_argument(
        '--eps',
        type=float,
        nargs='+',
        help='LORT eps grid (default 0.5 0.7 0.9)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='overrides applied to every config, xxx=yyy format')
    parser.add_argument(
        '--verbose',
        action='store_true',
        help="print MMEngine's logs (always written to the work dirs)")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Dict:
    """Run the demo; return what is written to ``results.json``."""
    args = parse_args(argv)
    with warnings.catch_warnings():
        if not args.verbose:  # the libraries' deprecation notices
            warnings.simplefilter('ignore')
        return run(args)


def run(args: argparse.Namespace) -> Dict:
    """Run the demo with parsed arguments (see :func:`parse_args`)."""
    start = time.time()
    prepare_fashion_mnist(
        args.data_root, args.src, check_counts=args.src == DEBIAN_SOURCE_DIR)
    work_root = osp.join(args.out_dir, 'work_dirs')
    options = {}  # shown in the printed commands
    if args.data_root != DEFAULT_DATA_ROOT:
        for split in ('train', 'val', 'test'):
            options[f'{split}_dataloader.dataset.dataset.data_root'] = \
                args.data_root
    options.update(args.cfg_options)

    runs, commands, sweeps = {}, {}, {}
    for spec in DEMO_RUNS:
        name, config = spec['name'], spec['config']
        init_from = spec.get('init_from')
        taus = args.taus if spec['taus'] else None
        sweep = spec.get('sweep')
        if sweep is not None and args.eps is not None:
            sweep = (sweep[0], tuple(args.eps))
        sweeps[name] = sweep
        cfg = load_config(config, work_root, args.seed, options)
        epochs = args.stage2_epochs if init_from else args.epochs
        run_options = dict(options)
        if epochs is not None:
            run_options.update(max_epochs_options(cfg, epochs))
            cfg.merge_from_dict(run_options)
        if init_from:
            cfg.load_from = runs[init_from]['checkpoint']
        work_dir = osp.join(work_root, name)
        commands[name] = command_lines(cfg, config, work_dir, run_options,
                                       taus is not None, sweep)
        cfg.log_level = 'INFO' if args.verbose else 'WARNING'
        print(f'[{name}] training {osp.relpath(config, REPO_ROOT)}'
              + (f' from the {init_from} checkpoint' if init_from else '')
              + (f', {sweep[0]} in {sweep[1]}' if sweep else '') + ' ...',
              flush=True)
        run = train_and_evaluate(cfg, work_dir, name, taus, sweep)
        runs[name] = run
        chosen = []
        if sweep is not None:
            chosen.append(f'{sweep[0]} = '
                          f'{best_row(run["sweep"])["value"]:g}')
        if taus is not None:
            chosen.append(f'tau = {run["tau"]:g}')
        print(f'[{name}] trained in {run["train_seconds"]:.0f} s'
              + (f'; chosen on the validation split: {", ".join(chosen)}'
                 if chosen else ''),
              flush=True)

    rows = []
    for label, name, kind in DEMO_ROWS:
        run = runs[name]
        if run['sweep'] is not None:  # e.g. 'LORT stage 2 (eps 0.7)'
            key = sweeps[name][0].split('.')[-1]
            label = f'{label} ({key} {best_row(run["sweep"])["value"]:g})'
        if kind == 'rebalanced':
            label = f'{label} (tau {run["tau"]:g})'
        rows.append(dict(method=label, **run[kind]))
    counts = runs['ce']['train_class_counts']
    classes = runs['ce']['classes']
    table = format_table(rows)
    os.makedirs(args.out_dir, exist_ok=True)
    png = osp.join(args.out_dir, 'per_class_accuracy.png')
    plot_per_class_accuracy(rows, counts, classes, png)
    results_json = osp.join(args.out_dir, 'results.json')
    wall = time.time() - start

    print('\nCommands (tools/ equivalents of the in-process runs):')
    for name, lines in commands.items():
        for line in lines:
            print(f'  [{name}] {line}')
    print(f'\nFashion-MNIST-LT: {sum(counts)} training images, per class '
          f'{counts}; balanced test set of {runs["ce"]["num_test"]} images; '
          f'training seed {args.seed}. Accuracy and ECE in %; '
          'many > 100, medium 20..100, few < 20 training images.\n')
    print(table)
    print(f'\nWrote {png} and {results_json} ({wall:.0f} s in all).')

    results = dict(
        dataset='Fashion-MNIST-LT',
        train_class_counts=counts,
        classes=classes,
        seed=args.seed,
        columns=list(TABLE_COLUMNS),
        rows=rows,
        table_markdown=table,
        runs={
            spec['name']: dict(
                config=osp.relpath(spec['config'], REPO_ROOT),
                commands=commands[spec['name']],
                **{
                    key: runs[spec['name']][key]
                    for key in ('checkpoint', 'tau', 'tau_sweep', 'sweep',
                                'train_seconds')
                })
            for spec in DEMO_RUNS
        },
        wall_seconds=wall)
    with open(results_json, 'w') as f:
        json.dump(results, f, indent=2)
    return results


if __name__ == '__main__':
    main()
