"""benchmarks/gpu_check.py --dry-run: the GPU check's code path on the CPU
(float32, tiny sizes). Checks the report's schema and the checks'
consistency, not timings; overhead.py's own --smoke run is tested in
test_overhead.py, so that step is skipped here."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STEPS = ('cuda_tests', 'amp_training', 'fp16_overflow', 'overhead',
         'throughput')


@pytest.fixture(scope='module')
def dry_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('gpu_check') / 'gpu_check.json'
    proc = subprocess.run([
        sys.executable, 'benchmarks/gpu_check.py', '--dry-run', '--tests',
        'tests/test_datasets/test_synthetic_images.py', '--skip', 'overhead',
        '--out',
        str(out)
    ],
                          cwd=REPO_ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS='1'),
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT,
                          text=True,
                          timeout=600)
    assert proc.returncode in (0, 1), proc.stdout[-4000:]
    with open(out) as f:
        return proc, json.load(f)


def test_report_has_every_step(dry_run):
    proc, report = dry_run
    assert report['dry_run'] is True
    assert report['machine']['devices'] == ['cpu']
    assert tuple(report['steps']) == STEPS
    for name, step in report['steps'].items():
        assert step['status'] in ('pass', 'fail', 'skipped'), name
        assert 'error' not in step, step.get('error')
    assert report['steps']['overhead']['status'] == 'skipped'
    # no test there carries the cuda marker: pytest exit 5
    assert report['steps']['cuda_tests']['returncode'] == 5
    failed = any(s['status'] == 'fail' for s in report['steps'].values())
    assert report['status'] == ('fail' if failed else 'pass')
    assert proc.returncode == int(failed)
    assert 'images/s' in proc.stdout  # the table


def test_training_runs_finite_and_resume_exact(dry_run):
    runs = dry_run[1]['steps']['amp_training']['runs']
    assert [(r['model'], r['precision'])
            for r in runs] == [('GALA', 'float32'), ('LORT-stage2', 'float32')]
    for run in runs:
        assert run['losses_finite'] and run['resume_bit_exact'], run
        assert run['status'] == 'pass'
    gala = runs[0]
    assert gala['stats_dtype'] == 'float64'
    assert gala['stats_rel_diff_vs_float32'] == 0.0


def test_overflow_outcome_matches_its_status(dry_run):
    step = dry_run[1]['steps']['fp16_overflow']
    assert step['precision'] == 'float32'
    if step['outcome'] == 'error':
        assert step['status'] == 'pass', step['message']
        assert 'non-finite' in step['message']
    else:
        clean = (
            step['stats_unchanged_by_overflow_step']
            and step['stats_finite_at_end'])
        assert step['status'] == ('pass' if clean else 'fail')


def test_throughput_rows(dry_run):
    rows = dry_run[1]['steps']['throughput']['rows']
    assert {(r['model'], r['loss'])
            for r in rows} == {(model, loss)
                               for model in ('resnet32_cifar', 'resnext50_224')
                               for loss in ('CE', 'GALA', 'LORT-stage2')}
    for row in rows:
        assert row['precision'] == 'float32'
        assert row['images_per_s'] > 0
        assert row['images_per_s'] * row['ms_per_iter'] / 1000 == \
            pytest.approx(row['batch_size'])
        if row['loss'] == 'CE':
            assert row['time_vs_CE'] == 1.0
