"""Offline long-tailed classification demo on Fashion-MNIST-LT.

``make demo`` (or ``python demo/run_demo.py``) runs, on the CPU:

1. decompress Debian's ``dataset-fashion-mnist`` into ``data/fashion-mnist``;
2. train with MMEngine's :class:`Runner`, one config of ``configs/demo`` per
   method: cross-entropy (CE), GALA, and LORT's stage 2, which re-trains the
   linear head of the *same* CE model on its frozen features;
3. choose the exponent tau of GALA's prediction re-balancing (for CE and
   GALA) and LORT's smoothing eps on the validation split of the dataset
   config (the last 10,000 Fashion-MNIST *training* images, disjoint from
   the long-tailed training subset drawn from the first 50,000; checked by
   :func:`mmlt.experiments.check_held_out`); the test set is never used for
   a choice;
4. evaluate every model on the balanced 10,000-image test set and print a
   Markdown table (overall, mean-per-class, many / medium / few-shot
   accuracy, ECE), then write ``results.json`` and a plot of per-class
   accuracy against training images per class to ``--out-dir``;
5. write the long-tail report of the table's rows to ``--out-dir/report``
   (:func:`mmlt.report.report_from_runs`: the rows' test dumps, the CE and
   GALA training curves, the tau sweeps) and print its path.

The steps are those of :mod:`mmlt.experiments` (train the candidates,
choose on the validation split, then test); this script only names the
runs and prints what they gave.
"""
import argparse
import copy
import os
import os.path as osp
import time
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction

import mmlt  # noqa: F401  (registries and compat patches)
from mmlt.datasets.fashion_mnist_debian import (DEBIAN_SOURCE_DIR,
                                                DEFAULT_DATA_ROOT,
                                                prepare_fashion_mnist)
from mmlt.evaluation.shot_groups import LOW_SHOT_THR, MANY_SHOT_THR
from mmlt.experiments import (TABLE_COLUMNS, add_tau_argument,
                              build_split_loader, check_held_out, choose_then_test, collect_split,
                              figures_table, load_config, load_runner,
                              max_epochs_options, plot_per_class_accuracy,
                              train, train_candidates, write_json)
from mmlt.report import ReportRow, report_from_runs

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'demo')
CE_CONFIG = osp.join(CONFIG_DIR, 'ce_smallconvnet_fashion-mnist-lt.py')
GALA_CONFIG = osp.join(CONFIG_DIR, 'gala_smallconvnet_fashion-mnist-lt.py')
LORT_CONFIG = osp.join(CONFIG_DIR,
                       'lort-stage2_smallconvnet_fashion-mnist-lt.py')

# The demo's trainings. `init_from`: the run whose checkpoint is `load_from`
# (stage 2); `taus`: whether the re-balancing tau is chosen on validation;
# `sweep`: a hyper-parameter chosen on validation, one training per value.
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
# Table rows: (label, run name, 'plain' or the post-hoc re-balancing)
DEMO_ROWS = (
    ('CE', 'ce', 'plain'),
    ('CE + re-balancing', 'ce', 'PredictionRebalancing'),
    ('GALA', 'gala', 'plain'),
    ('GALA + re-balancing', 'gala', 'PredictionRebalancing'),
    ('CE stage 1 -> LORT stage 2', 'lort', 'plain'),
)


def train_choose_test(cfg: Config, work_dir: str, name: str,
                      taus: Optional[Sequence[float]],
                      sweep: Optional[Tuple[str, Sequence]]) -> Dict:
    """Train ``cfg`` (once per value of ``sweep``), choose on the
    validation split, then test (:func:`choose_then_test`)."""

    def make_config(value) -> Config:
        candidate = copy.deepcopy(cfg)
        candidate.work_dir = work_dir
        if sweep is not None:
            candidate.merge_from_dict({sweep[0]: value})
            candidate.work_dir = osp.join(work_dir, f'{sweep[0]}={value}')
        return candidate

    runners = {}

    def record(candidate, split: str):
        key = id(candidate)
        if key not in runners:
            runners[key] = load_runner(candidate.cfg, candidate.checkpoint,
                                       f'{run_name(candidate.value)}-eval')
        runner = runners[key]
        return collect_split(
            runner.model,
            build_split_loader(candidate.cfg, split, seed=runner.seed),
            split)

    def run_name(value) -> str:
        return name if value is None else f'{name}-{value}'

    candidates = train_candidates(
        None if sweep is None else sweep[1], make_config,
        lambda c, value: train(c, f'{run_name(value)}-train', progress=True))
    result = choose_then_test(
        candidates, lambda c: record(c, 'val'), lambda c: record(c, 'test'),
        {} if taus is None else dict(PredictionRebalancing=taus),
        parameter='value' if sweep is None else sweep[0])
    result['train_seconds'] = sum(c.train_seconds for c in candidates)
    return result


def command_lines(cfg: Config, config: str, work_dir: str,
                  cfg_options: Dict, choose_tau: bool,
                  sweep: Optional[Tuple[str, Sequence]] = None) -> List[str]:
    """The ``tools/`` commands equivalent to one in-process run of
    :func:`train_choose_test`: train (once per swept value), select tau,
    test."""
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
        checkpoint = osp.join(work_dir, f'{key}=<best on val>', checkpoint)
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
    add_tau_argument(parser)
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

    runs, commands, labels = {}, {}, {}
    for spec in DEMO_RUNS:
        name, config = spec['name'], spec['config']
        init_from = spec.get('init_from')
        taus = args.taus if spec['taus'] else None
        sweep = spec.get('sweep')
        if sweep is not None and args.eps is not None:
            sweep = (sweep[0], tuple(args.eps))
        cfg = load_config(config, work_root, args.seed, options)
        epochs = args.stage2_epochs if init_from else args.epochs
        run_options = dict(options)
        if epochs is not None:
            run_options.update(max_epochs_options(cfg, epochs))
            cfg.merge_from_dict(run_options)
        check_held_out(cfg.val_dataloader.dataset, cfg.test_dataloader.dataset,
                       osp.relpath(config, REPO_ROOT))
        if init_from:
            cfg.load_from = runs[init_from]['candidate'].checkpoint
        work_dir = osp.join(work_root, name)
        commands[name] = command_lines(cfg, config, work_dir, run_options,
                                       taus is not None, sweep)
        cfg.log_level = 'INFO' if args.verbose else 'WARNING'
        print(f'[{name}] training {osp.relpath(config, REPO_ROOT)}'
              + (f' from the {init_from} checkpoint' if init_from else '')
              + (f', {sweep[0]} in {sweep[1]}' if sweep else '') + ' ...',
              flush=True)
        result = train_choose_test(cfg, work_dir, name, taus, sweep)
        runs[name] = result
        chosen = {(c['parameter'].split('.')[-1]): c['chosen']
                  for c in result['choices']}
        labels[name] = chosen
        print(f'[{name}] trained in {result["train_seconds"]:.0f} s'
              + ('; chosen on the validation split: ' + ', '.join(
                  f'{key} = {value:g}' for key, value in chosen.items())
                 if chosen else ''),
              flush=True)

    rows = []
    for label, name, kind in DEMO_ROWS:
        chosen = labels[name]
        if 'eps' in chosen:  # e.g. 'LORT stage 2 (eps 0.7)'
            label = f'{label} (eps {chosen["eps"]:g})'
        if kind != 'plain':
            label = f'{label} (tau {chosen["tau"]:g})'
        rows.append(dict(method=label, **runs[name]['test'][kind]))
    counts = runs['ce']['train_class_counts']
    classes = runs['ce']['classes']
    table = figures_table(rows)
    os.makedirs(args.out_dir, exist_ok=True)
    png = osp.join(args.out_dir, 'per_class_accuracy.png')
    plot_per_class_accuracy(rows, counts, classes, png)
    report_html = report_from_runs(
        osp.join(args.out_dir, 'report'),
        [
            ReportRow(row['method'], runs[name]['test_record'],
                      None if kind == 'plain' else kind,
                      labels[name].get('tau', 0.0))
            for row, (_, name, kind) in zip(rows, DEMO_ROWS)
        ],
        work_dirs=[osp.join(work_root, name) for name in ('ce', 'gala')],
        tau_choices={
            f'{name} tau': choice
            for name in ('ce', 'gala') for choice in runs[name]['choices']
            if choice['parameter'] == 'tau'
        })
    results_json = osp.join(args.out_dir, 'results.json')
    wall = time.time() - start

    print('\nCommands (tools/ equivalents of the in-process runs):')
    for name, lines in commands.items():
        for line in lines:
            print(f'  [{name}] {line}')
    print(f'\nFashion-MNIST-LT: {sum(counts)} training images, per class '
          f'{counts}; balanced test set of {runs["ce"]["num_test"]} images; '
          f'training seed {args.seed}. Accuracy and ECE in %; '
          f'many > {MANY_SHOT_THR}, medium {LOW_SHOT_THR}..{MANY_SHOT_THR}, '
          f'few < {LOW_SHOT_THR} training images.\n')
    print(table)
    print(f'\nWrote {png} and {results_json} ({wall:.0f} s in all).')
    print(f'Long-tail report: {report_html}')

    results = dict(
        dataset='Fashion-MNIST-LT',
        train_class_counts=counts,
        classes=classes,
        seed=args.seed,
        columns=list(TABLE_COLUMNS),
        rows=rows,
        table_markdown=table,
        report=report_html,
        runs={
            spec['name']: dict(
                config=osp.relpath(spec['config'], REPO_ROOT),
                commands=commands[spec['name']],
                checkpoint=runs[spec['name']]['candidate'].checkpoint,
                chosen=labels[spec['name']],
                choices=runs[spec['name']]['choices'],
                train_seconds=runs[spec['name']]['train_seconds'])
            for spec in DEMO_RUNS
        },
        wall_seconds=wall)
    write_json(results_json, results)
    return results


if __name__ == '__main__':
    main()
