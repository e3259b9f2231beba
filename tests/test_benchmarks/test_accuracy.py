"""benchmarks/accuracy.py on tiny synthetic Fashion-MNIST IDX files (1
epoch, two seeds): its choices and test figures against forward passes and
figures computed in the test (numpy), and its aggregation against numpy."""
import importlib.util
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


accuracy = load('accuracy', osp.join(REPO_ROOT, 'benchmarks', 'accuracy.py'))
files = load('fashion_mnist_files',
             osp.join(REPO_ROOT, 'tests', 'test_demo',
                      'fashion_mnist_files.py'))

N_MAX, IMBALANCE, NUM_VAL, NUM_TEST = 120, 24, 500, 200
TAUS = (0.0, 0.5, 1.0)
COUNTS = [int(N_MAX * (1 / IMBALANCE)**(i / 9)) for i in range(10)]
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
    data = files.synthetic_fashion_mnist(200, 20)
    files.write_fashion_mnist_gz(str(src), **data)
    torch.set_num_threads(1)
    report = accuracy.main([
        '--src', str(src), '--data-root', str(tmp / 'fashion-mnist'),
        '--out-dir', str(tmp / 'out'), '--work-dir', str(tmp / 'work'),
        '--epochs', '1', '--stage2-epochs', '1', '--imbalance-factors',
        str(IMBALANCE), '--seeds', '0', '1', '--workers', '1', '--taus', '1',
        '0', '0.5', '--gala-lambdas', '1.2,0.9', '1,1', '--lort-eps', 'paper',
        '0.5', '--name', 'tiny', '--cfg-options', *TINY_OPTIONS
    ])
    return report, tmp / 'out', data


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
        assert job['train_class_counts'] == COUNTS
        for figures in job['rows'].values():
            assert set(accuracy.METRIC_KEYS) <= set(figures)
            assert 0 <= figures['ece'] <= 100
            # balanced test split: overall == mean per class
            assert figures['top1'] == pytest.approx(
                figures['mean_class_acc'])


def test_choices_and_test_figures_against_a_reference(bench):
    report, _, data = bench
    val_images = data['train_images'][-NUM_VAL:]
    val_labels = data['train_labels'][-NUM_VAL:].astype(int)
    test_labels = data['test_labels'].astype(int)

    def val_score(checkpoint, method=None, tau=0.0):
        logits = files.model_logits(checkpoint, val_images)
        return files.reference_figures(logits, val_labels, COUNTS, method,
                                       tau)['mean_class_acc']

    def test_figures(checkpoint, method=None, tau=0.0):
        logits = files.model_logits(checkpoint, data['test_images'])
        return files.reference_figures(logits, test_labels, COUNTS, method,
                                       tau)

    for job in report['jobs']:
        trainings = job['trainings']
        # the swept trainings: the best candidate on val, smallest on ties
        for name, grid in (('gala', [(1.0, 1.0), (1.2, 0.9)]),
                           ('lort', [0.5, accuracy.paper_ratio_eps(10)])):
            candidates = {
                tuple(c['value']) if name == 'gala' else c['value']:
                c['checkpoint']
                for c in trainings[name]['candidates']
            }
            assert sorted(candidates) == grid
            chosen = files.first_best(
                grid, lambda v: val_score(candidates[v]))
            assert trainings[name]['chosen'] == chosen
            assert trainings[name]['checkpoint'] == candidates[chosen]
        for label, name, method in accuracy.ROWS:
            checkpoint = trainings[name]['checkpoint']
            tau = 0.0
            if method is not None:  # tau on val, smallest on ties
                tau = files.first_best(
                    TAUS, lambda t: val_score(checkpoint, method, t))
                (choice, ) = [c for c in trainings[name]['choices']
                              if c.get('method') == method]
                assert choice['chosen'] == tau and choice['grid'] == list(
                    TAUS)
                assert choice['rule'].startswith('highest mean per-class')
            files.check_figures(job['rows'][label],
                                test_figures(checkpoint, method, tau))


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
