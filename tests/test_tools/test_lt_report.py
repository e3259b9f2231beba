"""tools/analysis/lt_report.py on the outputs of the real tools: a tiny GALA
training (tools/train.py), its test dump (tools/test.py --out) and its tau
table (tools/analysis/select_tau.py --out)."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import mmengine
import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA_DIR = osp.join(REPO_ROOT, 'tests', 'data', 'gala')
CONFIG = osp.join(DATA_DIR, 'tiny_gala.py')
TIMEOUT = 300
THRESHOLDS = ['--many-shot-thr', '10', '--low-shot-thr', '5']  # the config's


def load_report_tool():
    path = osp.join(REPO_ROOT, 'tools', 'analysis', 'lt_report.py')
    spec = importlib.util.spec_from_file_location('tool_lt_report', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(*args):
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join(
            [DATA_DIR, os.environ.get('PYTHONPATH', '')]))
    env.pop('MMLT_TRUST_CHECKPOINTS', None)
    result = subprocess.run([sys.executable, *map(str, args)],
                            cwd=REPO_ROOT,
                            env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            text=True,
                            timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout[-4000:]


@pytest.fixture(scope='module')
def gala_run(tmp_path_factory):
    """One epoch of tiny GALA, its test dump and its tau table."""
    root = tmp_path_factory.mktemp('lt_report')
    work_dir = root / 'gala'
    run('tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options',
        'train_cfg.max_epochs=1')
    checkpoint = work_dir / 'epoch_1.pth'
    run('tools/test.py', CONFIG, checkpoint, '--work-dir', root / 'test',
        '--out', root / 'gala.pkl')
    run('tools/analysis/select_tau.py', CONFIG, checkpoint, '--work-dir',
        root / 'tau', '--out', root / 'tau.json')
    with open(root / 'test' / 'test_metrics_rank0.json') as f:
        metrics = json.load(f)
    return root, metrics


def test_report_of_real_tool_outputs(gala_run, monkeypatch):
    root, test_metrics = gala_run
    monkeypatch.syspath_prepend(DATA_DIR)  # the config's custom modules
    out = root / 'report'
    page = load_report_tool().main([
        str(root / 'gala.pkl'), '--names', 'GALA', '--config', CONFIG,
        '--work-dir',
        str(root / 'gala'), '--tau-sweep',
        str(root / 'tau.json'), '--out',
        str(out), *THRESHOLDS
    ])
    assert page == str(out / 'report.html')
    with open(out / 'report.json') as f:
        report = json.load(f)
    # the figures of the test loop's own metric (RebalancedAccuracy, plain)
    figures = report['results'][0]['metrics']
    for key in ('top1', 'mean_class_acc', 'many', 'medium', 'few', 'ece'):
        assert figures[key] == pytest.approx(
            test_metrics[f'long-tail/{key}'], abs=1e-6)
    assert {'lm', 'rsd', 'lm_few'} <= set(figures)
    assert report['train_class_counts'] == [24, 12, 6, 4, 2]
    training = report['training'][0]
    assert training['step'] == list(range(1, 13))  # 12 iterations, logged 1
    assert set(training['ratios']['gala']) == {'many', 'medium', 'few'}
    with open(root / 'tau.json') as f:
        assert report['tau_sweeps'][0]['best_tau'] == json.load(f)['best_tau']
    for name in ('report.html', 'class_accuracy.png', 'logits_lm_rsd.png',
                 'training_0_gala.png', 'tau_0_tau.png'):
        assert (out / name).is_file()


def test_names_must_match_the_results(capsys):
    with pytest.raises(SystemExit):
        load_report_tool().parse_args([
            'a.pkl', 'b.pkl', '--names', 'A', '--class-counts', '1,2', '--out',
            'x'
        ])
    assert ('--names has 1 names for 2 RESULT files; give one per file'
            in capsys.readouterr().err)


def test_class_counts_must_be_integers(capsys):
    with pytest.raises(SystemExit):
        load_report_tool().parse_args(
            ['a.pkl', '--class-counts', '5,x', '--out', 'x'])
    assert ("--class-counts must be comma-separated integers, got '5,x'"
            in capsys.readouterr().err)


def test_class_counts_of_another_length_than_the_scores(tmp_path):
    dump = str(tmp_path / 'pred.pkl')
    mmengine.dump([
        dict(pred_score=torch.full((4, ), 0.25), gt_label=torch.tensor([c]))
        for c in range(4)
    ], dump)
    with pytest.raises(
            ValueError,
            match=r"--class-counts has 3 entries but the scores "
            r"of 'pred' \(.*pred.pkl\) have 4 classes"):
        load_report_tool().main(
            [dump, '--class-counts', '5,3,1', '--out',
             str(tmp_path / 'r')])


def test_work_dir_without_scalars(tmp_path):
    dump = str(tmp_path / 'pred.pkl')
    mmengine.dump([
        dict(pred_score=torch.full((2, ), 0.5), gt_label=torch.tensor([c]))
        for c in range(2)
    ], dump)
    with pytest.raises(
            FileNotFoundError, match='has no vis_data/scalars.json'):
        load_report_tool().main([
            dump, '--class-counts', '5,3', '--work-dir',
            str(tmp_path), '--out',
            str(tmp_path / 'r')
        ])
