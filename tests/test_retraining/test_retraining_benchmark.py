"""Runs benchmarks/retraining.py on the toy stage-1 model (the smoke test
of the benchmark: its JSON report and the arithmetic of its ratios, not
its timings). It lives here for the session's toy checkpoint."""
import importlib.util
import json
import os.path as osp

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_benchmark():
    spec = importlib.util.spec_from_file_location(
        'retraining_benchmark',
        osp.join(REPO_ROOT, 'benchmarks', 'retraining.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_reports_extraction_grid_and_study(toy_stage1, tmp_path,
                                                     capsys):
    out = tmp_path / 'retraining.json'
    report = load_benchmark().main([
        toy_stage1.stage1_config, toy_stage1.checkpoint, '--stage2-config',
        toy_stage1.stage2_config, '--epochs', '1', '--repeats', '1',
        '--out', str(out)
    ])
    with open(out) as f:
        assert json.load(f) == json.loads(json.dumps(report))
    extraction, grid, study = (report[k]
                               for k in ('extraction', 'grid', 'study'))
    assert extraction['images'] == 21 + 15 + 18  # toy train / val / test
    assert extraction['cpu_ms_per_image'] == pytest.approx(
        1000 * extraction['cpu_s'] / 54)
    assert grid['ratio_cpu'] == pytest.approx(grid['g8_cpu_s'] /
                                              grid['g1_cpu_s'])
    # every registered method ran; the estimate counts one config run per
    # trained candidate plus one test pass per method
    assert sorted(study['methods']) == [
        'balanced_softmax', 'ce', 'crt', 'logit_adjust', 'lort', 'lws',
        'mislas', 'posthoc_la', 'tau_norm'
    ]
    run = study['one_config_run']
    assert study['configs_estimate_cpu_s'] == pytest.approx(
        study['trained_candidates'] * run['train_val_cpu_s'] +
        9 * run['test_cpu_s'])
    assert study['speedup_cpu'] == pytest.approx(
        study['configs_estimate_cpu_s'] / study['study_cpu_s'])
    table = capsys.readouterr().out
    assert '| LORT grid G = 8 (s) |' in table
    assert f'{grid["ratio_cpu"]:.2f}x G = 1' in table
