"""Offline long-tailed classification demo on Fashion-MNIST-LT.

``make demo`` (or ``python demo/run_demo.py``) runs, on the CPU:

1. decompress Debian's ``dataset-fashion-mnist`` into ``data/fashion-mnist``;
2. train with MMEngine's :class:`Runner`, one config of ``configs/demo`` per
   method: cross-entropy (CE), GALA, and LORT's stage 2, which re-trains the
   linear head of the *same* CE model on its frozen features;
3. choose the exponent tau of GALA's prediction re-balancing on the
   validation split of the dataset config (the last 10,000 Fashion-MNIST
   *training* images, disjoint from the long-tailed training subset drawn
   from the first 50,000); the test set is never used for a choice;
4. evaluate every model on the balanced 10,000-image test set and print a
   Markdown table (overall, mean-per-class, many / medium / few-shot
   accuracy, ECE), then write ``results.json`` and a plot of per-class
   accuracy against training images per class to ``--out-dir``.

The functions (:func:`load_config`, :func:`train`, :func:`select_tau`,
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
from mmlt.models.heads.rebalanced_linear_head import (  # noqa: E402
    column_mass, rebalance_probs)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'demo')
CE_CONFIG = osp.join(CONFIG_DIR, 'ce_resnet8_fashion-mnist-lt.py')
GALA_CONFIG = osp.join(CONFIG_DIR, 'gala_resnet8_fashion-mnist-lt.py')
LORT_CONFIG = osp.join(CONFIG_DIR, 'lort-stage2_resnet8_fashion-mnist-lt.py')
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

    Validation during training is switched off (the validation split is only
    used to choose tau afterwards).
    """
    cfg = copy.deepcopy(cfg)
    cfg.experiment_name = experiment_name
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    runner = Runner.from_cfg(cfg)
    runner.train()
    checkpoint = osp.join(cfg.work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'Training did not write {checkpoint}.')
    return checkpoint


def select_tau(cfg: Config,
               checkpoint: str,
               experiment_name: str,
               taus: Sequence[float] = DEFAULT_TAUS) -> Tuple[float, list]:
    """Choose the re-balancing tau on ``cfg.val_dataloader``.

    The same procedure as ``tools/analysis/select_tau.py``: transductive
    re-balancing with the validation split's column masses, best
    mean-per-class accuracy, ties to the smaller tau.

    Returns:
        tuple[float, list[dict]]: The chosen tau and the sweep table.
    """
    cfg = copy.deepcopy(cfg)
    cfg.experiment_name = experiment_name
    cfg.load_from = checkpoint
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    dataloader = Runner.build_dataloader(cfg.val_dataloader, seed=runner.seed)
    logits, labels = collect_logits(runner.model, dataloader)
    counts = dataloader.dataset.metainfo['train_class_counts']
    rows = tau_sweep(logits, labels, taus, counts)
    scores = np.array([row['mean_class_acc'] for row in rows])
    return rows[int(np.argmax(scores))]['tau'], rows


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
        dict(type='RebalancedAccuracy', tau=tau),
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
         rebalance_probs(probs, column_mass(probs), tau)),
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
                       taus: Optional[Sequence[float]] = DEFAULT_TAUS) -> Dict:
    """Train ``cfg`` in ``work_dir``, choose tau on the validation split and
    evaluate on the test split.

    Args:
        cfg (Config): A config with a validation split (``val_dataloader``)
            and, for stage 2, ``load_from``.
        work_dir (str): Directory of the run.
        name (str): Short name of the run, for log names.
        taus (Sequence[float], optional): The tau grid; None skips the
            selection and reports re-balancing with tau 1.

    Returns:
        dict: ``checkpoint``, ``tau``, ``tau_sweep`` (validation table),
        ``train_seconds`` and the test figures of :func:`evaluate`.
    """
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    start = time.time()
    checkpoint = train(cfg, f'{name}-train')
    train_seconds = time.time() - start
    tau, sweep = 1.0, None
    if taus is not None:
        tau, sweep = select_tau(cfg, checkpoint, f'{name}-select-tau', taus)
    results = evaluate(cfg, checkpoint, f'{name}-test', tau)
    return dict(
        checkpoint=checkpoint,
        tau=tau,
        tau_sweep=sweep,
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
        cells += [f'{row[key]:.2f}' for key in METRIC_KEYS[:-1]]
        cells.append(f'{row["ece"]:.3f}')
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
                  cfg_options: Dict, choose_tau: bool) -> List[str]:
    """The ``tools/`` commands equivalent to one in-process run of
    :func:`train_and_evaluate`.

    Args:
        cfg (Config): The run's config.
        config (str): Path of the config file.
        work_dir (str): The run's work directory.
        cfg_options (dict): The overrides given to :func:`load_config`
            (``max_epochs`` as :func:`max_epochs_options`).
        choose_tau (bool): Whether tau is chosen on the validation split.

    Returns:
        list[str]: Train, (select tau,) test.
    """
    options = {'randomness.seed': cfg.randomness.seed, **cfg_options}
    if cfg.get('load_from'):
        options['load_from'] = cfg.load_from
    options = ' '.join(f'{key}={value}' for key, value in options.items())
    config = osp.relpath(config, REPO_ROOT)
    checkpoint = osp.join(work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    lines = [
        f'python tools/train.py {config} --work-dir {work_dir} '
        f'--cfg-options {options}'
    ]
    tau = '1.0'
    if choose_tau:
        lines.append(
            f'python tools/analysis/select_tau.py {config} {checkpoint}')
        tau = '<chosen tau>'
    lines.append(f'python tools/test.py {config} {checkpoint} --out '
                 f'{work_dir}/test_predictions.pkl --cfg-options '
                 f'test_evaluator.tau={tau}')
    return lines


# The demo: (run name, config, run whose checkpoint is load_from, choose tau)
DEMO_RUNS = (
    ('ce', CE_CONFIG, None, True),
    ('gala', GALA_CONFIG, None, True),
    ('lort', LORT_CONFIG, 'ce', False),
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
    log_level = {'log_level': 'INFO' if args.verbose else 'WARNING'}

    runs, commands = {}, {}
    for name, config, init_from, choose_tau in DEMO_RUNS:
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
                                       choose_tau)
        cfg.merge_from_dict(log_level)
        print(f'[{name}] training {osp.relpath(config, REPO_ROOT)}'
              + (f' from the {init_from} checkpoint' if init_from else '')
              + ' ...', flush=True)
        runs[name] = train_and_evaluate(cfg, work_dir, name,
                                        args.taus if choose_tau else None)
        print(f'[{name}] trained in {runs[name]["train_seconds"]:.0f} s'
              + (f', tau chosen on the validation split: '
                 f'{runs[name]["tau"]:g}' if choose_tau else ''),
              flush=True)

    rows = []
    for label, name, kind in DEMO_ROWS:
        if kind == 'rebalanced':
            label = f'{label} (tau {runs[name]["tau"]:g})'
        rows.append(dict(method=label, **runs[name][kind]))
    counts = runs['ce']['train_class_counts']
    classes = runs['ce']['classes']
    table = format_table(rows)
    os.makedirs(args.out_dir, exist_ok=True)
    png = osp.join(args.out_dir, 'per_class_accuracy.png')
    plot_per_class_accuracy(rows, counts, classes, png)
    wall = time.time() - start

    print('\nCommands (tools/ equivalents of the in-process runs):')
    for name, lines in commands.items():
        for line in lines:
            print(f'  [{name}] {line}')
    print(f'\nFashion-MNIST-LT, {sum(counts)} training images, per class '
          f'{counts}; balanced test set of {runs["ce"]["num_test"]} images; '
          f'training seed {args.seed}. Accuracy in %, ECE in [0, 1]; many '
          '> 100, medium 20..100, few < 20 training images.\n')
    print(table)
    results_json = osp.join(args.out_dir, 'results.json')
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
            name: dict(
                config=osp.relpath(config, REPO_ROOT),
                commands=commands[name],
                **{
                    key: runs[name][key]
                    for key in ('checkpoint', 'tau', 'tau_sweep',
                                'train_seconds')
                })
            for name, config, _, _ in DEMO_RUNS
        },
        wall_seconds=wall)
    with open(results_json, 'w') as f:
        json.dump(results, f, indent=2)
    return results


if __name__ == '__main__':
    main()
