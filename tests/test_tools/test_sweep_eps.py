import importlib.util
import json
import os.path as osp
from types import SimpleNamespace

import pytest
from lort_toy_data import REPO_ROOT, write_toy_configs
from mmengine.config import Config
from mmengine.runner import CheckpointLoader, Runner

import mmlt  # noqa: F401
from mmlt.experiments import to_json


def load_sweep_tool():
    path = osp.join(REPO_ROOT, 'tools', 'analysis', 'sweep_eps.py')
    spec = importlib.util.spec_from_file_location('tool_sweep_eps', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def toy(tmp_path_factory):
    directory = tmp_path_factory.mktemp('sweep')
    stage1_config, stage2_config = write_toy_configs(directory)
    cfg = Config.fromfile(stage1_config)
    cfg.work_dir = str(directory / 'stage1')
    cfg.experiment_name = 'toy_sweep_stage1'
    Runner.from_cfg(cfg).train()
    return SimpleNamespace(
        dir=directory,
        stage2_config=stage2_config,
        checkpoint=str(directory / 'stage1' / 'epoch_1.pth'))


def test_sweep_on_the_validation_split(toy):
    tool = load_sweep_tool()
    out = toy.dir / 'sweep.json'
    result = tool.main([
        toy.stage2_config, '--load-from', toy.checkpoint, '--eps', '0.98',
        '0.5', '--work-dir',
        str(toy.dir / 'runs'), '--out',
        str(out)
    ])
    assert json.loads(out.read_text()) == to_json(result)  # nan: null
    table = result['table']
    assert [row['eps'] for row in table] == [0.5, 0.98]
    assert table[1]['target_ratio'] == pytest.approx(1 + 3 * 0.02 / 0.98)
    assert result['metric'] == 'mean_class_acc' and result['num_val'] == 9
    for row in table:
        # each run trained with its eps from the stage-1 checkpoint, without
        # validation during training; scored afterwards on the val split
        # (3 images per class: per-class accuracies in thirds)
        checkpoint = CheckpointLoader.load_checkpoint(
            str(toy.dir / 'runs' / f'eps_{row["eps"]:.6g}' / 'epoch_1.pth'))
        trained = Config.fromstring(checkpoint['meta']['cfg'], '.py')
        assert trained.model.head.loss.eps == row['eps']
        assert trained.load_from == toy.checkpoint
        assert trained.val_dataloader is None
        assert row['mean_class_acc'] * 9 / 100 == pytest.approx(
            round(row['mean_class_acc'] * 9 / 100))
    # the first maximum in eps order (0.5 on a tie)
    scores = [row['mean_class_acc'] for row in table]
    expected = 0.5 if scores[0] >= scores[1] else 0.98
    assert result['best_eps'] == expected


def test_ratio_grid_and_refusals(toy):
    tool = load_sweep_tool()
    cfg = Config.fromfile(toy.stage2_config)
    # eps = K / (K + r - 1), sorted: a larger ratio is a smaller eps.
    assert tool.eps_grid(cfg, None, [1.5, 3.0]) == [
        pytest.approx(3 / 5), pytest.approx(3 / 3.5)
    ]
    with pytest.raises(ValueError, match='never on the test split'):
        tool.main([
            toy.stage2_config, '--load-from', toy.checkpoint, '--eps', '0.9',
            '--cfg-options', 'val_dataloader.dataset.split=test'
        ])
    # the test images under another pipeline are still the test images
    with pytest.raises(ValueError, match='12 of the 12 validation samples'):
        tool.main([
            toy.stage2_config, '--load-from', toy.checkpoint, '--eps', '0.9',
            '--cfg-options', 'val_dataloader.dataset.split=test',
            'val_dataloader.dataset.pipeline=[]'
        ])
    with pytest.raises(ValueError, match='eps grid .* repeats 0.9'):
        tool.eps_grid(cfg, [0.9, 0.5, 0.9], None)
    ce = Config.fromfile(toy.stage2_config)
    ce.model.head.loss = dict(type='CrossEntropyLoss')
    with pytest.raises(ValueError, match='LORTLoss'):
        tool.stage2_config(ce, 0.9, toy.checkpoint, str(toy.dir))
    with pytest.raises(SystemExit):
        tool.parse_args([toy.stage2_config, '--load-from', 'x', '--eps', '1'])


def test_load_from_option_conflicting_with_load_from_argument(toy):
    tool = load_sweep_tool()
    with pytest.raises(ValueError, match="load_from='other.pth' name "
                       'different checkpoints'):
        tool.main([
            toy.stage2_config, '--load-from', toy.checkpoint, '--eps', '0.9',
            '--cfg-options', 'load_from=other.pth'
        ])
