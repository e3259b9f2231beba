"""Runs benchmarks/overhead.py on tiny sizes and checks its JSON report
(schema and internal consistency, not timings)."""
import importlib.util
import json
import os
import os.path as osp

import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LOSSES = {
    'CrossEntropy', 'CrossEntropy(label_smoothing)', 'GALALoss', 'LORTLoss',
    'LogitAdjustLoss', 'BalancedSoftmaxLoss', 'LDAMLoss'
}
TIMING_KEYS = {'median_ms', 'ratio', 'ratio_min', 'ratio_max', 'repeats'}


def load_script():
    spec = importlib.util.spec_from_file_location(
        'overhead', osp.join(REPO_ROOT, 'benchmarks', 'overhead.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp('overhead') / 'overhead.json'
    threads = torch.get_num_threads()
    omp = os.environ.get('OMP_NUM_THREADS')
    try:
        load_script().main([
            '--smoke', '--quick', '--sizes', '6x4,3x5', '--device', 'cpu',
            '--out',
            str(out)
        ])
    finally:
        torch.set_num_threads(threads)
        if omp is None:
            os.environ.pop('OMP_NUM_THREADS', None)
        else:
            os.environ['OMP_NUM_THREADS'] = omp
    with open(out) as f:
        return json.load(f)


def check_timing(row):
    assert TIMING_KEYS <= set(row)
    assert row['median_ms'] > 0 and row['repeats'] == 2
    assert row['ratio_min'] <= row['ratio'] <= row['ratio_max']


def check_memory(report, row):
    if 'cpu_memory_error' in report:
        pytest.skip(f"no CPU peak memory: {report['cpu_memory_error']}")
    assert isinstance(row['peak_mem_bytes'], int)
    assert row['peak_mem_bytes'] >= 0


def test_machine_and_settings(report):
    assert report['schema_version'] == 1
    machine = report['machine']
    for key in ('cpu_model', 'torch', 'date', 'git_commit', 'python'):
        assert key in machine
    assert machine['torch_threads'] == machine['threads_requested'] == 1
    assert machine['devices'] == ['cpu']
    settings = report['settings']
    assert settings['smoke'] and settings['quick']
    assert settings['loss_sizes'] == [[6, 4], [3, 5]]
    assert set(settings['malloc_env']) == {
        'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_'
    }


def test_loss_rows(report):
    rows = report['loss']
    for batch, classes in ((6, 4), (3, 5)):
        at_size = {
            r['variant']: r
            for r in rows if (r['batch'], r['classes']) == (batch, classes)
        }
        assert set(at_size) == LOSSES
        assert at_size['CrossEntropy']['ratio'] == 1.0
        for row in at_size.values():
            check_timing(row)
            assert row['device'] == 'cpu' and row['calls_per_sample'] >= 1
            assert row['backend'] == 'torch'  # 'auto' on the CPU
            check_memory(report, row)


def test_train_iteration_rows(report):
    rows = {r['variant']: r for r in report['train_iteration']}
    assert set(rows) == {
        'CrossEntropy', 'GALALoss+AccumulatedGradientHook'
    }
    for row in rows.values():
        check_timing(row)
        assert row['batch'] == 4
        check_memory(report, row)
    assert rows['CrossEntropy']['ratio'] == 1.0


def test_rebalancing(report):
    rebalancing = report['rebalancing']
    assert rebalancing['shape'] == [64, 10]
    rows = {r['variant']: r for r in rebalancing['rows']}
    assert set(rows) == {'argmax', 'rebalance+argmax'}
    for row in rows.values():
        check_timing(row)
    epoch = rebalancing['test_epoch']['cpu']
    assert epoch['num_images'] == 64
    assert epoch['epoch_s'] == pytest.approx(
        epoch['per_image_ms'] * 64 / 1e3)


def test_targets(report):
    targets = report['targets']
    names = [t['name'] for t in targets]
    # four losses, the training iteration and the re-balancing, on cpu
    assert len(targets) == 6
    assert sum('forward+backward' in name for name in names) == 4
    for target in targets:
        assert target['device'] == 'cpu'
        if 're-balancing' in target['name']:
            assert target['met'] == (target['measured'] <
                                     target['threshold'])
        else:
            assert target['met'] == (target['measured'] <=
                                     target['threshold'])
    loss_targets = {
        t['name'].split()[0]: t['measured']
        for t in targets if 'forward+backward' in t['name']
    }
    for variant, measured in loss_targets.items():
        assert measured == max(r['ratio'] for r in report['loss']
                               if r['variant'] == variant)


@pytest.mark.parametrize('text', ['256by100', '256x1', '0x10'])
def test_bad_sizes_argument(text):
    with pytest.raises(SystemExit, match='--sizes'):
        load_script().parse_sizes(text)
