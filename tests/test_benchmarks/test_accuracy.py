"""benchmarks/accuracy.py on tiny synthetic Fashion-MNIST IDX files (1
epoch, two seeds): its choices and test figures against forward passes and
figures computed in the test (numpy), and its aggregation against numpy."""
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest
import torch

from mmlt.experiments.recipes import base_config, paper_ratio_eps

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
                           ('lort', [0.5, paper_ratio_eps(10)])):
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


def test_refuses_choosing_on_the_test_split():
    # CIFAR-100-LT's dataset config validates on its test split
    job = dict(dataset_config=osp.join(
        REPO_ROOT, 'configs/_base_/datasets/cifar100-lt.py'), base_config='-')
    cfg = base_config(accuracy.CE_CONFIG, 'unused', 3, job['dataset_config'])
    with pytest.raises(ValueError, match='never on the test split'):
        accuracy.run_trainings(job, cfg)
