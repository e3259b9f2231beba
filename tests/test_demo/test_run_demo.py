"""End-to-end test of the demo on tiny synthetic IDX files: its choices and
test figures against a forward pass and figures computed here (numpy), not
against its own tables."""
import contextlib
import importlib.util
import io
import json
import os.path as osp

import matplotlib.pyplot as plt
import pytest
import torch
from fashion_mnist_files import (check_figures, first_best, model_logits,
                                 reference_figures, synthetic_fashion_mnist,
                                 write_fashion_mnist_gz)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    'run_demo', osp.join(REPO_ROOT, 'demo', 'run_demo.py'))
run_demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_demo)

N_MAX, IMBALANCE, NUM_VAL = 120, 24, 500
TAUS, EPS = (0.0, 0.5, 1.0), (0.5, 0.9)
COUNTS = [int(N_MAX * (1 / IMBALANCE)**(r / 9)) for r in range(10)]
# 200 training images per class: the long-tailed subset comes from the first
# 150 per class, validation is the last 50 per class; 20 test images per class
TINY_OPTIONS = [
    'train_dataloader.dataset.dataset.indices=1500',
    f'val_dataloader.dataset.dataset.indices=-{NUM_VAL}',
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
    data = synthetic_fashion_mnist(200, 20)
    write_fashion_mnist_gz(str(src), **data)
    out_dir = tmp / 'out'
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    console = io.StringIO()  # mmengine's handlers bind sys.stdout
    try:
        with contextlib.redirect_stdout(console):
            results = run_demo.main([
                '--src', str(src), '--data-root',
            str(tmp / 'fashion-mnist'), '--out-dir',
            str(out_dir), '--epochs', '3', '--stage2-epochs', '1', '--taus',
            '1', '0', '0.5', '--eps', *map(str, EPS), '--cfg-options',
            *TINY_OPTIONS
            ])
    finally:
        torch.set_num_threads(threads)
    return (results, out_dir, data, src, tmp / 'fashion-mnist',
            console.getvalue())


# --------------------------------------------------------------------- tests
def test_outputs_and_table(demo_run):
    results, out_dir = demo_run[:2]
    with open(out_dir / 'results.json') as f:
        assert json.load(f)['rows'] == results['rows']
    height, width = plt.imread(out_dir / 'per_class_accuracy.png').shape[:2]
    assert width > 600 and height > 400
    lines = results['table_markdown'].splitlines()
    assert lines[0] == ('| Method | Overall | Mean/class | Many | Medium | '
                        'Few | ECE |')
    ce, gala, lort = (results['runs'][n]['chosen'] for n in
                      ('ce', 'gala', 'lort'))
    assert [line.split(' | ')[0][2:] for line in lines[2:]] == [
        'CE', f'CE + re-balancing (tau {ce["tau"]:g})', 'GALA',
        f'GALA + re-balancing (tau {gala["tau"]:g})',
        f'CE stage 1 -> LORT stage 2 (eps {lort["eps"]:g})'
    ]
    row = results['rows'][0]
    assert lines[2] == (f'| CE | {row["top1"]:.2f} | '
                        f'{row["mean_class_acc"]:.2f} | {row["many"]:.2f} | '
                        f'{row["medium"]:.2f} | {row["few"]:.2f} | '
                        f'{row["ece"]:.2f} |')
    assert results['train_class_counts'] == COUNTS
    assert results['rows'][0]['many'] > 50  # the head class is learned


def test_training_progress_is_printed(demo_run):
    console = demo_run[5]
    # mmengine's LoggerHook lines: epoch / iteration, ETA, loss
    progress = [
        line for line in console.splitlines() if 'Epoch(train)' in line
    ]
    assert progress and all('eta:' in line and 'loss:' in line
                            for line in progress)
    assert any('Epoch(train) [3]' in line for line in progress)
    # the runners' other INFO messages (environment, config) stay in the logs
    assert 'System environment' not in console
    assert 'Exp name' not in console


def test_report_of_the_runs(demo_run):
    results, out_dir = demo_run[:2]
    report_dir = out_dir / 'report'
    assert results['report'] == str(report_dir / 'report.html')
    assert f'Long-tail report: {results["report"]}' in demo_run[5]
    with open(report_dir / 'report.json') as f:
        report = json.load(f)
    assert [r['name'] for r in report['results']] == [
        row['method'] for row in results['rows']
    ]
    # the report's numbers are those of the demo's table, which the tests
    # above check against figures computed here
    for result, row in zip(report['results'], results['rows']):
        for key in ('top1', 'mean_class_acc', 'many', 'medium', 'few', 'ece'):
            assert result['metrics'][key] == pytest.approx(row[key], abs=1e-3)
        assert result['class_accuracy'] == pytest.approx(row['class_acc'])
    assert report['train_class_counts'] == COUNTS
    assert [s['best_tau'] for s in report['tau_sweeps']] == [
        results['runs'][name]['chosen']['tau'] for name in ('ce', 'gala')
    ]
    assert [t['name'] for t in report['training']] == ['ce', 'gala']
    assert 'lm' in report['results'][0]['metrics']  # plain dumps: logits
    assert 'lm' not in report['results'][1]['metrics']


@pytest.mark.parametrize('name, rows', [('ce', (0, 1)), ('gala', (2, 3))])
def test_tau_chosen_on_validation_and_test_figures(demo_run, name, rows):
    results, _, data = demo_run[:3]
    run = results['runs'][name]
    val = model_logits(run['checkpoint'], data['train_images'][-NUM_VAL:])
    val_labels = data['train_labels'][-NUM_VAL:].astype(int)
    method = 'PredictionRebalancing'
    tau = first_best(
        TAUS, lambda t: reference_figures(val, val_labels, COUNTS, method,
                                          t)['mean_class_acc'])
    assert run['chosen'] == dict(tau=tau)
    test = model_logits(run['checkpoint'], data['test_images'])
    test_labels = data['test_labels'].astype(int)
    check_figures(results['rows'][rows[0]],
                  reference_figures(test, test_labels, COUNTS))
    check_figures(results['rows'][rows[1]],
                  reference_figures(test, test_labels, COUNTS, method, tau))


def test_eps_chosen_on_validation_and_stage2_reuses_the_ce_features(
        demo_run):
    results, out_dir, data = demo_run[:3]
    run = results['runs']['lort']
    val_labels = data['train_labels'][-NUM_VAL:].astype(int)

    def checkpoint(eps):
        return str(out_dir / 'work_dirs' / 'lort' /
                   f'model.head.loss.eps={eps}' / 'epoch_1.pth')

    def val_score(eps):
        val = model_logits(checkpoint(eps), data['train_images'][-NUM_VAL:])
        return reference_figures(val, val_labels, COUNTS)['mean_class_acc']

    eps = first_best(EPS, val_score)
    assert run['chosen'] == dict(eps=eps)
    assert run['checkpoint'] == checkpoint(eps)
    test = model_logits(checkpoint(eps), data['test_images'])
    check_figures(results['rows'][4],
                  reference_figures(test, data['test_labels'].astype(int),
                                    COUNTS))
    ce = torch.load(results['runs']['ce']['checkpoint'], weights_only=False)
    lort = torch.load(run['checkpoint'], weights_only=False)
    backbone = [k for k in ce['state_dict'] if k.startswith('backbone.')]
    assert backbone
    for key in backbone:
        torch.testing.assert_close(lort['state_dict'][key],
                                   ce['state_dict'][key])
    assert not torch.equal(lort['state_dict']['head.fc.weight'],
                           ce['state_dict']['head.fc.weight'])


def test_a_config_validating_on_test_images_is_refused(demo_run, tmp_path):
    src, data_root = demo_run[3:5]
    with pytest.raises(ValueError, match='^configs/demo/ce_smallconvnet_'
                       'fashion-mnist-lt.py: 200 of the 200 validation'):
        run_demo.main([
            '--src', str(src), '--data-root', str(data_root), '--out-dir',
            str(tmp_path), '--cfg-options', *TINY_OPTIONS,
            'val_dataloader.dataset.dataset.split=test',
            'val_dataloader.dataset.dataset.test_mode=True',
            'val_dataloader.dataset.dataset.indices=None'
        ])
    assert not (tmp_path / 'work_dirs').exists()  # refused before training
