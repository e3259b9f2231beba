"""Offline long-tailed classification demo on Fashion-MNIST-LT.

``make demo`` (or ``python demo/run_demo.py``) runs, on the CPU:

1. decompress Debian's ``dataset-fashion-mnist`` into ``data/fashion-mnist``;
2. train with MMEngine's :class:`Runner`, one config of ``configs/demo`` per
   method: cross-entropy (CE), GALA, and LORT's stage 2, which re-trains the
   linear head of the *same* CE model on its frozen features;
3. choose the re-balancing exponent tau of GALA's prediction re-balancing on
   a validation split of Fashion-MNIST *training* images that the long-tailed
   training subset does not use (balanced, ``--val-per-class`` per class);
   the test set is never used for a choice;
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
from mmengine.config import Config, ConfigDict, DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmlt  # noqa: E402,F401  (registries and compat patches)
from demo.prepare_fashion_mnist import (DEBIAN_SOURCE_DIR,  # noqa: E402
                                        prepare_fashion_mnist)
from mmlt.datasets import (long_tail_class_counts,  # noqa: E402
                           long_tail_subset_indices)
from mmlt.evaluation import LongTailAccuracy  # noqa: E402
from mmlt.evaluation.rebalancing import collect_logits, tau_sweep  # noqa
from mmlt.models.heads.rebalanced_linear_head import (  # noqa: E402
    column_mass, rebalance_probs)
from mmpretrain.registry import DATASETS  # noqa: E402

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
        max_epochs (int, optional): Shorten (or lengthen) the schedule: sets
            ``train_cfg.max_epochs`` and moves every parameter scheduler and
            checkpoint interval that ended at the old last epoch. Defaults
            to None (the config's schedule).

    Returns:
        Config: The config, with ``work_dir`` and ``randomness`` set.
    """
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed, deterministic=False)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if max_epochs is not None:
        set_max_epochs(cfg, max_epochs)
    return cfg


def set_max_epochs(cfg: Config, max_epochs: int) -> None:
    """Change an epoch-based schedule to ``max_epochs`` epochs in place."""
    if max_epochs < 1:
        raise ValueError(f'max_epochs must be positive, got {max_epochs}.')
    old = cfg.train_cfg.max_epochs
    cfg.train_cfg.max_epochs = max_epochs
    if cfg.train_cfg.get('val_interval') == old:
        cfg.train_cfg.val_interval = max_epochs
    checkpoint = cfg.default_hooks.get('checkpoint')
    if checkpoint is not None and checkpoint.get('interval') == old:
        checkpoint.interval = max_epochs
    schedulers = cfg.param_scheduler
    for scheduler in (schedulers
                      if isinstance(schedulers, list) else [schedulers]):
        if scheduler.get('end') == old:
            scheduler.end = max_epochs


def heldout_validation_indices(labels: np.ndarray, train_indices: np.ndarray,
                               per_class: int, seed: int) -> np.ndarray:
    """A balanced validation split of the samples not used for training.

    From every class, ``per_class`` samples are drawn at random (seeded)
    among those that are not in ``train_indices``.

    Args:
        labels (np.ndarray): Labels of the whole (balanced) source split,
            shape (N, ).
        train_indices (np.ndarray): Indices of the training subset.
        per_class (int): Validation samples per class.
        seed (int): Seed of the draw.

    Returns:
        np.ndarray: Sorted int64 indices into ``labels``.
    """
    unused = np.ones(len(labels), dtype=bool)
    unused[train_indices] = False
    available = np.bincount(labels[unused], minlength=labels.max() + 1)
    if available.min() < per_class:
        cls = int(available.argmin())
        raise ValueError(
            f'Class {cls} has only {available[cls]} images outside the '
            f'long-tailed training subset; cannot hold out {per_class} per '
            'class for validation. Lower --val-per-class.')
    rng = np.random.RandomState(seed)
    # One seeded permutation, then the first `per_class` unused samples of
    # each class in permuted order: no loop over classes needed.
    order = rng.permutation(np.flatnonzero(unused))
    order = order[np.argsort(labels[order], kind='stable')]
    starts = np.searchsorted(labels[order], np.arange(len(available)))
    rank = np.arange(len(order)) - starts[labels[order]]
    return np.sort(order[rank < per_class])


def add_heldout_validation(cfg: Config, per_class: int,
                           seed: int = 0) -> np.ndarray:
    """Point ``cfg.val_dataloader`` at a held-out balanced validation split.

    The training set of ``cfg`` must be a :class:`LongTailDataset` wrapping a
    balanced dataset (Fashion-MNIST train). The validation set wraps the same
    dataset with the test pipeline, restricted (``indices``) to
    ``per_class`` images per class that the long-tailed subset does not
    contain, and reports the training class counts like the test set.

    Args:
        cfg (Config): The config, modified in place.
        per_class (int): Validation images per class.
        seed (int): Seed of the draw. Defaults to 0.

    Returns:
        np.ndarray: The validation indices into the wrapped dataset.
    """
    train_cfg = cfg.train_dataloader.dataset
    if train_cfg.get('type') != 'LongTailDataset':
        raise TypeError('add_heldout_validation needs a LongTailDataset '
                        f'training set, got {train_cfg.get("type")!r}.')
    source_cfg = copy.deepcopy(train_cfg.dataset)
    source_cfg.pipeline = []
    source = DATASETS.build(source_cfg)
    labels = np.asarray(source.get_gt_labels(), dtype=np.int64)
    counts = long_tail_class_counts(
        len(source.metainfo['classes']),
        train_cfg.get('n_max') or int(np.bincount(labels).min()),
        train_cfg.imbalance_factor, train_cfg.get('profile', 'exp'),
        train_cfg.get('mu', 0.5), train_cfg.get('class_order'))
    train_indices = long_tail_subset_indices(labels, counts,
                                             train_cfg.get('seed', 0))
    # The exclusion above must match the subset LongTailDataset keeps.
    train_set = DATASETS.build(dict(copy.deepcopy(train_cfg), dataset=source))
    if not np.array_equal(train_set.get_gt_labels(), labels[train_indices]):
        raise RuntimeError('The long-tailed training subset differs from the '
                           'one excluded from the validation split.')
    val_indices = heldout_validation_indices(labels, train_indices, per_class,
                                             seed)

    val_cfg = copy.deepcopy(cfg.test_dataloader)
    val_set = copy.deepcopy(train_cfg)
    val_set.update(
        subsample=False,
        n_max=int(counts.max()),
        dataset=dict(
            copy.deepcopy(train_cfg.dataset),
            indices=val_indices.tolist(),
            pipeline=copy.deepcopy(cfg.test_dataloader.dataset.pipeline)))
    val_cfg.dataset = val_set
    cfg.val_dataloader = val_cfg
    return val_indices


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
        ``class_acc``, the per-class accuracies in percent).
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
    results = {}
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
                       taus: Sequence[float] = DEFAULT_TAUS) -> Dict:
    """Train ``cfg`` in ``work_dir``, choose tau on the validation split and
    evaluate on the test split.

    Args:
        cfg (Config): A config with a validation split (see
            :func:`add_heldout_validation`); ``load_from`` for stage 2.
        work_dir (str): Directory of the run.
        name (str): Short name of the run, for log names.
        taus (Sequence[float]): The tau grid.

    Returns:
        dict: ``checkpoint``, ``tau``, ``tau_sweep`` (validation table),
        ``plain`` and ``rebalanced`` test figures (see :func:`evaluate`),
        ``train_seconds``.
    """
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    start = time.time()
    checkpoint = train(cfg, f'{name}-train')
    train_seconds = time.time() - start
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


def plot_per_class_accuracy(rows: List[Dict], train_class_counts: Sequence[int],
                            class_names: Sequence[str], path: str) -> None:
    """Plot each method's per-class test accuracy against the number of
    training images of the class (log x axis) and save it as PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    counts = np.asarray(train_class_counts)
    order = np.argsort(-counts, kind='stable')
    markers = 'osD^vP*X'
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, row in enumerate(rows):
        acc = np.asarray(row['class_acc'], dtype=float)[order]
        ax.plot(
            counts[order],
            acc,
            marker=markers[i % len(markers)],
            label=f'{row["method"]} (mean {row["mean_class_acc"]:.1f})')
    ax.set_xscale('log')
    ax.set_xlabel('training images of the class (log scale)')
    ax.set_ylabel('test accuracy of the class (%)')
    ax.set_ylim(0, 100)
    ax.set_xticks(counts[order])
    ax.set_xticklabels([str(c) for c in counts[order]], rotation=0)
    ax.minorticks_off()
    for thr in (20, 100):
        ax.axvline(thr, color='grey', linestyle=':', linewidth=1)
    secondary = ax.secondary_xaxis('top')
    secondary.set_xticks(counts[order])
    secondary.set_xticklabels([class_names[c] for c in order],
                              rotation=45,
                              ha='left',
                              fontsize=7)
    ax.grid(alpha=0.3)
    ax.legend(loc='lower left', fontsize=8)
    ax.set_title('Fashion-MNIST-LT: per-class accuracy vs training images',
                 pad=40)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def command_lines(config: str, work_dir: str, seed: int,
                  cfg_options: Optional[List[str]],
                  load_from: Optional[str] = None) -> List[str]:
    """The ``tools/`` commands that reproduce one run of the demo.

    The validation split (``indices``) is written into the dumped config
    ``work_dir/<config name>.py``, so tau selection and testing use it.
    """
    dumped = osp.join(work_dir, osp.basename(config))
    checkpoint = '<checkpoint>'
    options = [f'randomness.seed={seed}'] + list(cfg_options or [])
    if load_from:
        options.append(f'load_from={load_from}')
    return [
        f'python tools/train.py {osp.relpath(config, REPO_ROOT)} '
        f'--work-dir {work_dir} --cfg-options {" ".join(options)}',
        f'python tools/analysis/select_tau.py {dumped} {checkpoint}',
        f'python tools/test.py {dumped} {checkpoint} --cfg-options '
        'test_evaluator.tau=<chosen tau>',
    ]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Offline long-tailed demo on Fashion-MNIST-LT: CE, GALA '
        '(+ prediction re-balancing) and CE -> LORT stage 2.')
    parser.add_argument(
        '--out-dir', default='demo_output', help='results, plot, work dirs')
    parser.add_argument(
        '--data-root',
        default='data/fashion-mnist',
        help='where the decompressed Fashion-MNIST files go (the configs '
        '`data_root`)')
    parser.add_argument(
        '--src',
        default=DEBIAN_SOURCE_DIR,
        help="Debian's gzipped Fashion-MNIST files")
    parser.add_argument('--seed', type=int, default=0, help='training seed')
    parser.add_argument(
        '--val-per-class',
        type=int,
        default=200,
        help='held-out Fashion-MNIST training images per class for choosing '
        'tau')
    parser.add_argument(
        '--epochs',
        type=int,
        help='override the stage-1 epochs (CE, GALA), e.g. for a quick run')
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
        help='overrides applied to every config, xxx=yyy format')
    parser.add_argument(
        '--verbose',
        action='store_true',
        help="print MMEngine's training logs (they are always written to "
        'the work dirs)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    start = time.time()
    prepare_fashion_mnist(args.data_root, args.src,
                          check_counts=args.cfg_options is None)
    os.makedirs(args.out_dir, exist_ok=True)
    work_root = osp.join(args.out_dir, 'work_dirs')
    options = dict(args.cfg_options or {})
    options.setdefault('log_level', 'INFO' if args.verbose else 'WARNING')
    for split in ('train', 'val', 'test'):
        options[f'{split}_dataloader.dataset.dataset.data_root'] = \
            args.data_root
    cli_options = [f'{k}={v}' for k, v in (args.cfg_options or {}).items()]

    def config(path, epochs):
        cfg = load_config(path, work_root, args.seed, options, epochs)
        add_heldout_validation(cfg, args.val_per_class, seed=0)
        return cfg

    runs = {}
    commands = {}
    for name, path in (('ce', CE_CONFIG), ('gala', GALA_CONFIG)):
        print(f'[{name}] training {osp.relpath(path, REPO_ROOT)} ...',
              flush=True)
        cfg = config(path, args.epochs)
        work_dir = osp.join(work_root, name)
        commands[name] = command_lines(path, work_dir, args.seed,
                                       cli_options)
        runs[name] = train_and_evaluate(cfg, work_dir, name, args.taus)
        print(f'[{name}] done in {runs[name]["train_seconds"]:.0f} s of '
              f'training; tau chosen on validation: {runs[name]["tau"]}',
              flush=True)

    print('[lort] stage 2 on the CE model ...', flush=True)
    cfg = config(LORT_CONFIG, args.stage2_epochs)
    cfg.load_from = runs['ce']['checkpoint']
    work_dir = osp.join(work_root, 'lort')
    commands['lort'] = command_lines(LORT_CONFIG, work_dir, args.seed,
                                     cli_options, runs['ce']['checkpoint'])
    runs['lort'] = train_and_evaluate(cfg, work_dir, 'lort', args.taus)
    print(f'[lort] done in {runs["lort"]["train_seconds"]:.0f} s of training',
          flush=True)

    rows = [
        dict(method='CE', **runs['ce']['plain']),
        dict(
            method=f'CE + re-balancing (tau {runs["ce"]["tau"]:g})',
            **runs['ce']['rebalanced']),
        dict(method='GALA', **runs['gala']['plain']),
        dict(
            method=f'GALA + re-balancing (tau {runs["gala"]["tau"]:g})',
            **runs['gala']['rebalanced']),
        dict(method='CE stage 1 -> LORT stage 2', **runs['lort']['plain']),
    ]
    test_set = DATASETS.build(
        dict(copy.deepcopy(cfg.test_dataloader.dataset), lazy_init=True))
    metainfo = test_set.metainfo
    counts = list(metainfo['train_class_counts'])
    class_names = list(metainfo['classes'])
    table = format_table(rows)
    png = osp.join(args.out_dir, 'per_class_accuracy.png')
    plot_per_class_accuracy(rows, counts, class_names, png)
    wall = time.time() - start

    print('\nCommands (equivalent tools/ calls; configs in configs/demo):')
    for name, lines in commands.items():
        for line in lines:
            print(f'  [{name}] {line}')
    print(f'\nFashion-MNIST-LT: {sum(counts)} training images, per class '
          f'{counts}; test: balanced 10,000 images; seed {args.seed}.')
    print('Accuracies in %, ECE in [0, 1]; many > 100, medium 20..100, '
          'few < 20 training images per class.\n')
    print(table)
    print(f'\nWrote {png} and {osp.join(args.out_dir, "results.json")} '
          f'({wall:.0f} s in all).')

    results = dict(
        dataset=dict(
            name='Fashion-MNIST-LT',
            train_class_counts=counts,
            classes=class_names,
            val_per_class=args.val_per_class),
        seed=args.seed,
        columns=list(TABLE_COLUMNS),
        rows=rows,
        runs={
            name: dict(
                config=osp.relpath(path, REPO_ROOT),
                commands=commands[name],
                tau=run['tau'],
                tau_sweep=run['tau_sweep'],
                checkpoint=run['checkpoint'],
                train_seconds=run['train_seconds'])
            for (name, path), run in zip((('ce', CE_CONFIG), (
                'gala', GALA_CONFIG), ('lort', LORT_CONFIG)), runs.values())
        },
        table_markdown=table,
        wall_seconds=wall)
    with open(osp.join(args.out_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    return results


if __name__ == '__main__':
    main()
