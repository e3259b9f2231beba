"""Stage 2 of LORT from the real CIFAR configs (toy data, tiny backbone):
frozen feature extractor, missing stage-1 checkpoint, flip TTA and the
logits plot from real metric output."""
import importlib.util
import json
import os.path as osp
import sys
from types import SimpleNamespace

import matplotlib.image
import numpy as np
import pytest
import torch
from lort_toy_data import (REPO_ROOT, TRAIN_SIZES, LORTToyImages,
                           write_toy_configs)
from mmengine.config import Config
from mmengine.runner import CheckpointLoader, Runner, load_checkpoint
from mmpretrain.registry import MODELS

import mmlt  # noqa: F401
from mmlt.evaluation import LogitsStatistics


def load_tool(relative_path: str):
    path = osp.join(REPO_ROOT, relative_path)
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f'tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    """The toy configs and a stage-1 (cross-entropy) checkpoint."""
    directory = tmp_path_factory.mktemp('lort')
    stage1_config, stage2_config = write_toy_configs(directory)
    cfg = Config.fromfile(stage1_config)
    cfg.work_dir = str(directory / 'stage1')
    cfg.experiment_name = 'toy_lort_stage1'
    Runner.from_cfg(cfg).train()
    checkpoint = directory / 'stage1' / 'epoch_1.pth'
    return SimpleNamespace(
        dir=directory,
        stage2_config=stage2_config,
        checkpoint=str(checkpoint),
        state=CheckpointLoader.load_checkpoint(
            str(checkpoint), map_location='cpu')['state_dict'])


def run_stage2(toy, name: str, load_from, **options) -> Runner:
    cfg = Config.fromfile(toy.stage2_config)
    cfg.load_from = load_from
    cfg.work_dir = str(toy.dir / name)
    cfg.experiment_name = f'toy_lort_{name}'
    cfg.merge_from_dict(options)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def feature_extractor_keys(state):
    keys = [k for k in state if k.startswith(('backbone.', 'neck.'))]
    assert any(k.endswith('running_mean') for k in keys)
    return keys


def test_one_iteration_freezes_backbone_and_bn_statistics(toy):
    stage1 = toy.state
    # Stage 1 really trained the BN statistics (not at their init values).
    assert not torch.equal(
        stage1['backbone.bn1.running_mean'],
        torch.zeros_like(stage1['backbone.bn1.running_mean']))

    runner = run_stage2(toy, 'frozen', toy.checkpoint)
    assert runner.iter == 1
    state = runner.model.state_dict()
    for key in feature_extractor_keys(stage1):
        assert torch.equal(state[key], stage1[key]), key
    for key in ('head.fc.weight', 'head.fc.bias'):
        assert not torch.equal(state[key], stage1[key]), key
    # The frozen parameters were never trainable, so DDP and the optimizer
    # only see the head.
    trainable = [
        n for n, p in runner.model.named_parameters() if p.requires_grad
    ]
    assert trainable == ['head.fc.weight', 'head.fc.bias']


def test_bn_statistics_drift_option(toy):
    stage1 = toy.state
    runner = run_stage2(toy, 'drift', toy.checkpoint,
                        **{'model.norm_eval': False})
    state = runner.model.state_dict()
    keys = feature_extractor_keys(stage1)
    running = [k for k in keys if 'running_' in k]
    for key in set(keys) - set(running) - {
            k
            for k in keys if k.endswith('num_batches_tracked')
    }:
        assert torch.equal(state[key], stage1[key]), key
    assert not all(torch.equal(state[k], stage1[k]) for k in running)


def test_missing_stage1_checkpoint_is_an_error(toy):
    with pytest.raises(FileNotFoundError) as error:
        run_stage2(toy, 'unset', None)
    assert ('tools/train.py configs/lort/'
            'lort-stage1_resnet34_cifar100-lt-ir100.py'
            in str(error.value))
    missing = str(toy.dir / 'nowhere' / 'epoch_200.pth')
    with pytest.raises(FileNotFoundError, match='epoch_200.pth can not be '
                       'found'):
        run_stage2(toy, 'missing', missing)


def run_test_tool(monkeypatch, config, checkpoint, work_dir, out_file):
    test_tool = load_tool('tools/test.py')
    monkeypatch.setattr(sys, 'argv', [
        'tools/test.py', config, checkpoint, '--tta', '--work-dir', work_dir,
        '--cfg-options', f'test_evaluator.1.out_file={out_file}',
        f'experiment_name=toy_test_{osp.basename(work_dir)}'
    ])
    test_tool.main()
    with open(out_file) as f:
        return json.load(f)


def toy_logits(config: str, checkpoint: str, flip: bool) -> tuple:
    """Logits of the toy test split computed directly with the model."""
    cfg = Config.fromfile(config)
    model = MODELS.build(
        dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    load_checkpoint(model, checkpoint, map_location='cpu')
    model.eval()
    data = LORTToyImages(split='test').load_data_list()
    images = [d['img'][:, ::-1] if flip else d['img'] for d in data]
    inputs = [
        torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        for img in images
    ]
    with torch.no_grad():
        batch = model.data_preprocessor(dict(inputs=inputs), False)
        logits = model(batch['inputs'], mode='tensor')
    return logits.double(), torch.tensor([d['gt_label'] for d in data])


def logits_magnitude(logits, labels):
    stats = LogitsStatistics.sufficient_statistics(logits, labels)
    return LogitsStatistics.per_class_from_statistics(stats)['lm']


def test_flip_tta_and_logits_plot(toy, monkeypatch):
    runner = run_stage2(toy, 'for_plot', toy.checkpoint)
    stage2_checkpoint = osp.join(runner.work_dir, 'epoch_1.pth')
    ce_json = str(toy.dir / 'ce_logits.json')
    lort_json = str(toy.dir / 'lort_logits.json')
    ce = run_test_tool(monkeypatch, toy.stage2_config, toy.checkpoint,
                       str(toy.dir / 'test_ce'), ce_json)
    lort = run_test_tool(monkeypatch, toy.stage2_config, stage2_checkpoint,
                         str(toy.dir / 'test_lort'), lort_json)
    assert ce['train_class_counts'] == list(TRAIN_SIZES)
    assert ce['eval_count'] == [4, 4, 4]

    # --tta averages the logits of the image and its horizontal flip.
    plain, labels = toy_logits(toy.stage2_config, stage2_checkpoint, False)
    flipped, _ = toy_logits(toy.stage2_config, stage2_checkpoint, True)
    expected = logits_magnitude((plain + flipped) / 2, labels)
    np.testing.assert_allclose(lort['lm'], expected, rtol=1e-5)
    assert not np.allclose(
        lort['lm'], logits_magnitude(plain, labels), rtol=1e-5)

    plot_tool = load_tool('tools/analysis/plot_logits.py')
    png = toy.dir / 'logits.png'
    plot_tool.main([
        ce_json, lort_json, '--labels', 'CE stage 1', 'LORT stage 2', '--out',
        str(png), '--many-shot-thr', '4', '--low-shot-thr', '2'
    ])
    image = matplotlib.image.imread(str(png))
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100

    not_statistics = toy.dir / 'metrics.json'
    not_statistics.write_text(json.dumps({'long-tail/top1': 50.0}))
    with pytest.raises(ValueError, match='not a LogitsStatistics file'):
        plot_tool.main([str(not_statistics), '--out', str(toy.dir / 'x.png')])
