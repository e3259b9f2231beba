"""The study end to end on the toy model: LORT on cached features equals
FrozenFeatureClassifier stage 2 through the runner; the tool's outputs,
its checkpoints through tools/test.py, and its refusals."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from retraining_toy import REPO_ROOT, TOY_DIR
from torch.distributed.elastic.utils.distributed import get_free_port

from mmlt.retraining import (FeatureCache, RetrainingSchedule, build_method,
                             train_candidates)

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis', 'retrain_classifier.py')
METHODS = ('ce', 'crt', 'lws', 'lort', 'mislas', 'tau_norm', 'posthoc_la')
TIMEOUT = 300


def load_tool(path):
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(*argv):
    tool = load_tool(TOOL)
    tool.run_tool(tool.parse_args([str(a) for a in argv]))


@pytest.fixture(scope='module')
def study(toy_stage1):
    work_dir = toy_stage1.dir / 'study'
    run_tool(toy_stage1.stage1_config, toy_stage1.checkpoint, '--methods',
             *METHODS, '--epochs', 2, '--lr', 0.05, '--work-dir', work_dir)
    with open(work_dir / 'results.json') as f:
        return work_dir, json.load(f)


def test_lort_on_cached_features_equals_runner_stage2(toy_stage1, study):
    eps, epochs, lr = 0.8, 2, 0.05
    cfg = Config.fromfile(toy_stage1.stage2_config)
    cfg.load_from = toy_stage1.checkpoint
    cfg.work_dir = str(toy_stage1.dir / 'stage2')
    cfg.experiment_name = 'toy_retraining_stage2'
    cfg.merge_from_dict({
        'model.head.loss.eps': eps,
        'optim_wrapper.optimizer.lr': lr,
        'train_cfg.max_epochs': epochs,
        'param_scheduler.end': epochs
    })
    runner = Runner.from_cfg(cfg)
    runner.train()
    stage2 = runner.model.state_dict()

    cache = FeatureCache(str(study[0] / 'feature_cache'))
    weight, bias = cache.head()
    assert not torch.allclose(stage2['head.fc.weight'], weight, atol=1e-3)
    schedule = RetrainingSchedule(
        epochs=epochs, lr=lr, batch_size=cfg.train_dataloader.batch_size,
        seed=cfg.randomness.seed)
    weights, biases = train_candidates(
        build_method('lort', [eps]),
        torch.from_numpy(np.array(cache.features('train'))),
        cache.labels('train'), torch.from_numpy(cache.train_class_counts),
        weight, bias, schedule)
    torch.testing.assert_close(
        weights[0], stage2['head.fc.weight'], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(
        biases[0], stage2['head.fc.bias'], rtol=1e-4, atol=1e-5)


def test_study_writes_table_plots_and_choices_from_val(study):
    work_dir, results = study
    rows = {row['method']: row for row in results['rows']}
    assert set(rows) == {
        name + suffix
        for name in METHODS for suffix in ('', ' + GALA')
    }
    for name in ('acc_vs_lm', 'acc_vs_rsd', 'per_class_lm_rsd',
                 'val_vs_grid'):
        assert osp.getsize(work_dir / f'{name}.png') > 1000
    table = (work_dir / 'results.md').read_text()
    assert table.count('\n') == 2 + len(rows)
    for detail in results['methods']:
        # The chosen value is the first maximum of val over the sorted grid
        # (recomputed here from the recorded validation curve).
        val = sorted(detail['val'], key=lambda r: r['value'])
        best = max(r['mean_class_acc'] for r in val)
        first = next(r['value'] for r in val if r['mean_class_acc'] == best)
        assert detail['chosen'] == first
        gala = sorted(detail['gala']['val'], key=lambda r: r['tau'])
        best = max(r['mean_class_acc'] for r in gala)
        assert detail['gala']['tau'] == next(
            r['tau'] for r in gala if r['mean_class_acc'] == best)


def test_test_tool_reproduces_the_study_figures(toy_stage1, study, tmp_path):
    work_dir, results = study
    rows = {row['method']: row for row in results['rows']}
    test_tool = load_tool(osp.join(REPO_ROOT, 'tools', 'test.py'))
    # Re-training changes the predictions of the stage-1 classifier (which
    # predicts the majority class), so the checkpoints differ in figures.
    assert rows['mislas']['mean_class_acc'] != rows['lort']['mean_class_acc']
    assert rows['posthoc_la']['few'] != rows['mislas']['few']
    for name in ('lort', 'mislas', 'posthoc_la'):
        out = tmp_path / f'{name}.json'
        argv = [
            'tools/test.py', toy_stage1.stage1_config,
            str(work_dir / 'checkpoints' / f'{name}.pth'), '--work-dir',
            str(tmp_path / name), '--out', str(out), '--out-item', 'metrics'
        ]
        old_argv, sys.argv = sys.argv, argv
        try:
            test_tool.main()
        finally:
            sys.argv = old_argv
        metrics = json.loads(out.read_text())
        for key, figure in (('top1', 'top1'),
                            ('mean_class_acc', 'mean_class_acc'),
                            ('many', 'many'), ('few', 'few'),
                            ('ece', 'ece')):
            assert metrics[f'long-tail/{key}'] == pytest.approx(
                rows[name][figure], abs=1e-5), (name, key)


def test_help_lists_every_method():
    result = subprocess.run([sys.executable, TOOL, '--help'],
                            capture_output=True,
                            text=True,
                            timeout=TIMEOUT,
                            cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    for name in ('ce', 'crt', 'lws', 'tau_norm', 'posthoc_la',
                 'balanced_softmax', 'logit_adjust', 'mislas', 'lort'):
        assert name in result.stdout


def test_bad_command_lines_are_refused(toy_stage1, tmp_path):
    config, checkpoint = toy_stage1.stage1_config, toy_stage1.checkpoint
    with pytest.raises(ValueError, match="'lortt'; known: ce, crt"):
        run_tool(config, checkpoint, '--methods', 'lortt')
    with pytest.raises(ValueError, match='empty'):
        run_tool(config, checkpoint, '--methods', 'lort', '--grid', 'lort=')
    with pytest.raises(ValueError, match=r"not in --methods \['lort'\]"):
        run_tool(config, checkpoint, '--methods', 'lort', '--grid',
                 'crt=0.1')
    with pytest.raises(ValueError, match='held-out validation split'):
        run_tool(config, checkpoint, '--work-dir', tmp_path, '--cfg-options',
                 'val_dataloader.dataset.split=test')


def test_distributed_extraction_equals_single_process(toy_stage1, study,
                                                      tmp_path):
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PYTHONPATH=os.pathsep.join([TOY_DIR,
                                    os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run([
        sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
        f'--master_port={get_free_port()}', TOOL, toy_stage1.stage1_config,
        toy_stage1.checkpoint, '--methods', 'tau_norm', '--work-dir',
        str(tmp_path), '--launcher', 'pytorch'
    ],
                            cwd=REPO_ROOT,
                            env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT,
                            text=True,
                            timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout[-4000:]
    single = FeatureCache(str(study[0] / 'feature_cache'))
    dist = FeatureCache(str(tmp_path / 'feature_cache'))
    assert dist.meta['fingerprint'] == single.meta['fingerprint']
    for split in ('train', 'val', 'test'):  # 21, 15, 18: odd sizes pad
        np.testing.assert_allclose(
            dist.features(split), single.features(split), rtol=1e-5,
            atol=1e-6)
        np.testing.assert_array_equal(dist.labels(split), single.labels(split))
