"""Smoke test of benchmarks/accuracy.py on tiny synthetic Fashion-MNIST IDX
files (1 epoch, two seeds), and its aggregation against numpy."""
import inspect
import json
import math
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
for path in (REPO_ROOT, osp.join(REPO_ROOT, 'tests', 'test_demo')):
    if path not in sys.path:
        sys.path.insert(0, path)

from fashion_mnist_files import (synthetic_fashion_mnist,  # noqa: E402
                                 write_fashion_mnist_gz)

from benchmarks import accuracy  # noqa: E402

N_MAX, IMBALANCE, NUM_VAL, NUM_TEST = 120, 24, 500, 200
# 200 training images per class: the long-tailed subset comes from the first
# 150 per class, validation is the last 50 per class; 20 test images per class
TINY_OPTIONS = [
    'train_dataloader.dataset.dataset.indices=1500',
    f'val_dataloader.dataset.dataset.indices=-{NUM_VAL}',
    'train_dataloader.batch_size=32',
] + [f'{split}_dataloader.dataset.n_max={N_MAX}'
     for split in ('train', 'val', 'test')]


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('accuracy')
    src = tmp / 'src'
    src.mkdir()
    write_fashion_mnist_gz(str(src), **synthetic_fashion_mnist(200, 20))
    events = []  # every split evaluated and every tau selection, in order
    split_logits, select_tau = accuracy.split_logits, accuracy.select_tau

    def recording_split_logits(model, loader, split):
        out = split_logits(model, loader, split)
        events.append(('logits', split, out['labels']))
        return out

    def recording_select_tau(val_logits, val_labels, *args, **kwargs):
        events.append(('select', val_logits, val_labels))
        return select_tau(val_logits, val_labels, *args, **kwargs)

    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(accuracy, 'split_logits', recording_split_logits)
        patch.setattr(accuracy, 'select_tau', recording_select_tau)
        report = accuracy.main([
            '--src', str(src), '--data-root', str(tmp / 'fashion-mnist'),
            '--out-dir', str(tmp / 'out'), '--work-dir', str(tmp / 'work'),
            '--epochs', '1', '--stage2-epochs', '1', '--imbalance-factors',
            str(IMBALANCE), '--seeds', '0', '1', '--workers', '1', '--taus',
            '0', '0.5', '1', '--gala-lambdas', '1,1', '1.2,0.9', '--lort-eps',
            '0.5', 'paper', '--name', 'tiny', '--cfg-options', *TINY_OPTIONS
        ])
    return report, tmp / 'out', events


def test_outputs(bench):
    report, out_dir, _ = bench
    with open(out_dir / 'tiny.json') as f:
        saved = json.load(f)
    assert saved['table_markdown'] == report['table_markdown']
    assert saved['settings']['seeds'] == [0, 1]
    assert saved['machine']['logical_cpus'] >= 1
    assert saved['command'].startswith('python benchmarks/accuracy.py ')
    with open(out_dir / 'tiny.png', 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    markdown = (out_dir / 'tiny.md').read_text()
    assert report['table_markdown'] in markdown
    assert markdown.startswith('Command: `python benchmarks/accuracy.py')
    lines = [line for line in markdown.splitlines() if line.startswith('|')]
    assert lines[0] == ('| Method | Overall | Mean/class | Many | Medium | '
                        'Few | ECE | Chosen on val (per seed) |')
    methods = [row[0] for row in accuracy.ROWS]
    assert [line.split(' | ')[0][2:] for line in lines[2:]] == methods
    for job in report['jobs']:
        assert job['num_val'] == NUM_VAL and job['num_test'] == NUM_TEST
        assert job['train_class_counts'] == [
            int(N_MAX * (1 / IMBALANCE)**(i / 9)) for i in range(10)
        ]
        for figures in job['rows'].values():
            assert set(accuracy.METRIC_KEYS) <= set(figures)
            assert 0 <= figures['ece'] <= 100
            # balanced test split: overall == mean per class
            assert figures['top1'] == pytest.approx(
                figures['mean_class_acc'])


def test_choices_use_validation_data_only(bench):
    report, _, events = bench
    # by construction: the selection function takes logits, never a loader
    params = list(inspect.signature(accuracy.select_tau).parameters)
    assert params[:2] == ['val_logits', 'val_labels']
    selections = [e for e in events if e[0] == 'select']
    # ce: prediction + logit adjustment; gala: two lambdas x prediction
    assert len(selections) == 2 * (2 + 2)
    for i, event in enumerate(events):
        if event[0] != 'select':
            continue
        last_split = [e for e in events[:i] if e[0] == 'logits'][-1]
        assert last_split[1] == 'val'
        assert event[2] is last_split[2]  # the validation labels themselves
        assert len(event[2]) == NUM_VAL != NUM_TEST
    # each model's test logits come after all of its validation choices
    splits = [e[1] for e in events if e[0] == 'logits']
    assert splits.count('test') == 2 * len(accuracy.TRAININGS)
    for job in report['jobs']:
        for name, training in job['trainings'].items():
            for choice in training['choices']:
                if 'validation' not in choice:
                    continue  # a one-value grid
                key = 'tau' if choice['parameter'] == 'tau' else 'value'
                best = max(row['mean_class_acc']
                           for row in choice['validation'])
                chosen = [
                    row for row in choice['validation']
                    if row[key] == choice['chosen']
                ]
                assert chosen[0]['mean_class_acc'] == best
                assert choice['rule'].startswith('highest mean per-class')
        taus = [c['grid'] for c in job['trainings']['ce']['choices']]
        assert taus == [[0.0, 0.5, 1.0]] * 2
        gala = job['trainings']['gala']
        assert gala['choices'][0]['grid'] == [(1.0, 1.0), (1.2, 0.9)]
        lort = job['trainings']['lort']
        assert [c['value'] for c in lort['candidates']] == [
            0.5, accuracy.paper_ratio_eps(10)
        ]


def test_summary_matches_numpy(bench):
    report, _, _ = bench
    (block, ) = report['summary']
    assert block['imbalance_factor'] == IMBALANCE
    for row in block['rows']:
        for key in accuracy.METRIC_KEYS:
            values = np.array(
                [job['rows'][row['method']][key] for job in report['jobs']])
            assert row['per_seed'][key] == values.tolist()
            assert row['mean'][key] == pytest.approx(np.mean(values))
            assert row['std'][key] == pytest.approx(np.std(values, ddof=1))


def test_mean_std():
    values = [71.25, 64.5, 68.0]
    mean, std = accuracy.mean_std(values)
    assert mean == pytest.approx(np.mean(values), rel=1e-12)
    assert std == pytest.approx(np.std(values, ddof=1), rel=1e-12)
    assert std == pytest.approx(
        math.sqrt(sum((v - 67.91666666666667)**2 for v in values) / 2))
    mean, std = accuracy.mean_std([70.0])
    assert mean == 70.0 and math.isnan(std)
    # an empty shot group (nan, e.g. no few-shot class at IF 10)
    assert all(map(math.isnan, accuracy.mean_std([math.nan, math.nan])))
    assert accuracy.format_cell(math.nan, math.nan, 1) == 'n/a'
    assert accuracy.format_cell(64.123, 1.06, 1) == '64.1 ± 1.1'
    assert accuracy.to_json({'few': math.nan, 'g': (1, 2)}) == {
        'few': None,
        'g': [1, 2]
    }


def test_paper_ratio_eps():
    # ratio 1 + K (1 - eps) / eps of the paper's eps 0.98 on 100 classes
    ratio = 1 + 100 * 0.02 / 0.98
    assert accuracy.paper_ratio_eps(100) == 0.98
    assert accuracy.paper_ratio_eps(10) == round(10 / (10 + ratio - 1), 3)


def tiny_job(**kwargs):
    job = dict(
        base_config=accuracy.CE_CONFIG,
        dataset_config=None,
        imbalance_factor=10.0,
        seed=3,
        cfg_options={},
        epochs=None,
        work_dir='unused',
        log_level='WARNING')
    job.update(kwargs)
    return job


def test_training_configs():
    cfg = accuracy.base_config(tiny_job())
    assert cfg.model.head.type == 'LogitsLinearClsHead'
    assert cfg.randomness.seed == 3
    for split in ('train', 'val', 'test'):
        assert cfg[f'{split}_dataloader'].dataset.imbalance_factor == 10.0
    ldam = accuracy.training_config('ldam_drw', cfg)
    assert ldam.model.head.type == 'NormedLinearClsHead'
    assert ldam.model.head.loss.drw_start_epoch == 24  # 80 % of 30 epochs
    assert [h['type'] for h in ldam.custom_hooks
            ] == ['ClassCountsHook', 'LossEpochHook']
    gala = accuracy.training_config('gala', cfg, (1.2, 0.9))
    assert (gala.model.head.loss.lambda1, gala.model.head.loss.lambda2,
            gala.model.head.loss.num_classes) == (1.2, 0.9, 10)
    lort = accuracy.training_config('lort', cfg, 0.83, 'ce.pth', 20)
    assert lort.model.type == 'FrozenFeatureClassifier'
    assert lort.load_from == 'ce.pth'
    assert lort.model.head.loss == dict(type='LORTLoss', eps=0.83)
    assert lort.param_scheduler.end == 20
    assert lort.optim_wrapper.optimizer.lr == 5e-4
    assert 'custom_hooks' not in cfg or not cfg.custom_hooks  # not mutated


def test_refuses_choosing_on_the_test_split():
    # CIFAR-100-LT's dataset config validates on its test split
    job = tiny_job(
        dataset_config=osp.join(REPO_ROOT,
                                'configs/_base_/datasets/cifar100-lt.py'))
    cfg = accuracy.base_config(job)
    with pytest.raises(ValueError, match='never on the test split'):
        accuracy.run_trainings(job, cfg)


def test_refuses_a_non_linear_head(tmp_path):
    config = tmp_path / 'arcface.py'
    config.write_text(f"_base_ = ['{accuracy.CE_CONFIG}']\n"
                      "model = dict(head=dict(type='ArcFaceClsHead'))\n")
    with pytest.raises(ValueError, match='linear head with cross-entropy'):
        accuracy.base_config(tiny_job(base_config=str(config)))
    assert Config.fromfile(str(config)).model.head.type == 'ArcFaceClsHead'
