"""select_tau.py refusals that need no trained model (its tables are tested
against tools/test.py in test_gala_dist.py): the held-out rule on what the
splits resolve to, and the tau grid checked before any validation pass."""
import importlib.util
import os.path as osp

import pytest

import mmlt  # noqa: F401

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DATA_DIR = osp.join(REPO_ROOT, 'tests', 'data', 'gala')
CONFIG = osp.join(DATA_DIR, 'tiny_gala.py')
MISSING = 'no-such-checkpoint.pth'  # never reached: refused before loading


@pytest.fixture
def select_tau(monkeypatch):
    monkeypatch.syspath_prepend(DATA_DIR)  # the config's custom_imports
    spec = importlib.util.spec_from_file_location(
        'select_tau', osp.join(REPO_ROOT, 'tools', 'analysis',
                               'select_tau.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('options', [
    # the test split's samples under another dict: other keys, same data
    ['val_dataloader.dataset.seed=2',
     'val_dataloader.dataset.class_sizes=[9,8,8,8,8]'],
    # a subset of them, inside a LongTailDataset wrapper
    ['val_dataloader.dataset.seed=2',
     'val_dataloader.dataset.class_sizes=[9,8,8,8,8]',
     'val_dataloader.dataset.indices=5'],
])
def test_validation_samples_in_the_test_split_are_refused(
        select_tau, tmp_path, options):
    with pytest.raises(ValueError, match='validation samples are also test '
                       'samples.*never on the test split'):
        select_tau.main([
            CONFIG, MISSING, '--work-dir',
            str(tmp_path), '--cfg-options', *options
        ])


def test_nested_long_tail_wrapper_over_the_test_split(select_tau, tmp_path):
    config = tmp_path / 'nested.py'
    config.write_text(f"""_base_ = [{CONFIG!r}]
val_dataloader = dict(dataset=dict(
    _delete_=True, type='LongTailDataset', imbalance_factor=2, n_max=9,
    subsample=False, dataset=dict(
        type='LongTailDataset', imbalance_factor=2, n_max=9, subsample=False,
        dataset=dict(type='GALASyntheticDataset', class_sizes=(9, 8, 8, 8, 8),
                     train_class_counts=(24, 12, 6, 4, 2), seed=2))))
""")
    with pytest.raises(ValueError, match='41 of the 41 validation samples'):
        select_tau.main([str(config), MISSING])


def test_no_validation_split(select_tau):
    with pytest.raises(ValueError, match='has no val_dataloader.dataset'):
        select_tau.main([CONFIG, MISSING, '--cfg-options',
                         'val_dataloader=None'])


@pytest.mark.parametrize('taus, message', [
    (['nan', '1.0'], 'finite number >= 0; got nan'),
    (['inf'], 'got inf'),
    (['-0.5', '1'], 'got -0.5'),
    (['1', '0', '1'], 'repeats 1.0'),
])
def test_bad_grid_is_refused_before_any_validation(select_tau, capsys, taus,
                                                   message):
    with pytest.raises(SystemExit):
        select_tau.main([CONFIG, MISSING, '--taus', *taus])
    assert message in capsys.readouterr().err


def test_grid_is_sorted(select_tau):
    args = select_tau.parse_args([CONFIG, MISSING, '--taus', '1.5', '0', '1'])
    assert args.taus == [0.0, 1.0, 1.5]
