"""End-to-end smoke test of the demo on tiny synthetic IDX files."""
import json
import os.path as osp

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from fashion_mnist_files import (synthetic_fashion_mnist,
                                 write_fashion_mnist_gz)

from demo import run_demo

N_MAX, IMBALANCE = 120, 24
# 200 training images per class: the long-tailed subset comes from the first
# 150 per class, validation is the last 50 per class; 20 test images per class
TINY_OPTIONS = [
    'train_dataloader.dataset.dataset.indices=1500',
    'val_dataloader.dataset.dataset.indices=-500',
    'train_dataloader.batch_size=32',
] + [
    f'{split}_dataloader.dataset.{key}={value}'
    for split in ('train', 'val', 'test')
    for key, value in (('n_max', N_MAX), ('imbalance_factor', IMBALANCE))
]


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('demo')
    src = tmp / 'src'
    src.mkdir()
    write_fashion_mnist_gz(str(src), **synthetic_fashion_mnist(200, 20))
    out_dir = tmp / 'out'
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = run_demo.main([
            '--src', str(src), '--data-root',
            str(tmp / 'fashion-mnist'), '--out-dir',
            str(out_dir), '--epochs', '3', '--stage2-epochs', '1', '--taus',
            '0', '0.5', '1', '--eps', '0.5', '0.9', '--cfg-options',
            *TINY_OPTIONS
        ])
    finally:
        torch.set_num_threads(threads)
    return results, out_dir


def test_outputs_and_table(demo_run, capsys):
    results, out_dir = demo_run
    with open(out_dir / 'results.json') as f:
        assert json.load(f)['rows'] == results['rows']
    with open(out_dir / 'per_class_accuracy.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    height, width = plt.imread(out_dir / 'per_class_accuracy.png').shape[:2]
    assert width > 600 and height > 400
    assert results['columns'] == [
        'Method', 'Overall', 'Mean/class', 'Many', 'Medium', 'Few', 'ECE'
    ]
    header = results['table_markdown'].splitlines()[0]
    assert header == ('| Method | Overall | Mean/class | Many | Medium | Few '
                      '| ECE |')
    methods = [row['method'] for row in results['rows']]
    lort = results['runs']['lort']
    eps = [r['value'] for r in lort['sweep']
           if r['checkpoint'] == lort['checkpoint']][0]
    assert methods == [
        'CE', f'CE + re-balancing (tau {results["runs"]["ce"]["tau"]:g})',
        'GALA',
        f'GALA + re-balancing (tau {results["runs"]["gala"]["tau"]:g})',
        f'CE stage 1 -> LORT stage 2 (eps {eps:g})'
    ]
    assert len(results['table_markdown'].splitlines()) == 2 + len(methods)


def test_class_counts_and_groups(demo_run):
    results, _ = demo_run
    expected = [int(N_MAX * (1 / IMBALANCE)**(r / 9)) for r in range(10)]
    assert results['train_class_counts'] == expected
    counts = np.array(expected)
    groups = dict(
        many=counts > 100,
        medium=(counts >= 20) & (counts <= 100),
        few=counts < 20)
    assert [int(g.sum()) for g in groups.values()] == [1, 5, 4]
    for row in results['rows']:
        class_acc = np.array(row['class_acc'])
        assert class_acc.shape == (10, )
        assert ((class_acc >= 0) & (class_acc <= 100)).all()
        assert 0 <= row['ece'] <= 100
        # the metric's figures agree with the dumped predictions' per-class
        # accuracies (balanced test set: overall == mean per class)
        assert row['mean_class_acc'] == pytest.approx(class_acc.mean())
        assert row['top1'] == pytest.approx(class_acc.mean())
        for name, in_group in groups.items():
            assert row[name] == pytest.approx(class_acc[in_group].mean())
    # the head class (120 images) of this easy data is learned by CE
    assert results['rows'][0]['many'] > 50


def test_tau_and_eps_are_chosen_on_validation(demo_run):
    results, _ = demo_run
    for name in ('ce', 'gala'):
        run = results['runs'][name]
        sweep = run['tau_sweep']
        assert [row['tau'] for row in sweep] == [0.0, 0.5, 1.0]
        best = max(row['mean_class_acc'] for row in sweep)
        chosen = [row for row in sweep if row['tau'] == run['tau']][0]
        assert chosen['mean_class_acc'] == best
    lort = results['runs']['lort']
    assert lort['tau_sweep'] is None
    assert [row['value'] for row in lort['sweep']] == [0.5, 0.9]
    best = max(row['mean_class_acc'] for row in lort['sweep'])
    chosen = [
        row for row in lort['sweep'] if row['checkpoint'] == lort['checkpoint']
    ]
    assert len(chosen) == 1 and chosen[0]['mean_class_acc'] == best


def test_lort_stage2_reuses_the_ce_features(demo_run):
    results, _ = demo_run
    ce = torch.load(results['runs']['ce']['checkpoint'], weights_only=False)
    lort = torch.load(
        results['runs']['lort']['checkpoint'], weights_only=False)
    backbone = [k for k in ce['state_dict'] if k.startswith('backbone.')]
    assert backbone
    for key in backbone:
        torch.testing.assert_close(lort['state_dict'][key],
                                   ce['state_dict'][key])
    assert not torch.equal(lort['state_dict']['head.fc.weight'],
                           ce['state_dict']['head.fc.weight'])


def test_max_epochs_moves_schedule_ends():
    cfg = run_demo.load_config(run_demo.CE_CONFIG, 'unused')
    assert cfg.train_cfg.max_epochs == 30
    assert run_demo.max_epochs_options(cfg, 4) == {
        'train_cfg.max_epochs': 4,
        'train_cfg.val_interval': 4,
        'default_hooks.checkpoint.interval': 4,
        'param_scheduler.end': 4
    }
    cfg.param_scheduler = [
        dict(type='LinearLR', begin=0, end=2),
        dict(type='CosineAnnealingLR', begin=2, end=30)
    ]
    assert run_demo.max_epochs_options(cfg, 4)['param_scheduler.1.end'] == 4
    assert 'param_scheduler.0.end' not in run_demo.max_epochs_options(cfg, 4)
    cfg = run_demo.load_config(run_demo.CE_CONFIG, 'unused', max_epochs=4)
    assert cfg.train_cfg.max_epochs == 4
    assert cfg.param_scheduler.end == 4
    with pytest.raises(ValueError, match='max_epochs must be positive'):
        run_demo.max_epochs_options(cfg, 0)


def test_demo_configs_choose_on_a_split_other_than_test():
    for spec in run_demo.DEMO_RUNS:
        cfg = run_demo.load_config(spec['config'], 'unused')
        assert cfg.val_dataloader.dataset != cfg.test_dataloader.dataset
        assert osp.isfile(spec['config'])
