import json
import os
import os.path as osp

import pytest
from mmengine.visualization import LocalVisBackend

from mmlt.report import (find_scalars_files, read_tau_sweep,
                         read_training_scalars)


def write_scalars(run_dir, lines):
    """Write lines with mmengine's own backend, as the LoggerHook does."""
    backend = LocalVisBackend(save_dir=osp.join(run_dir, 'vis_data'))
    for step, scalars in lines:
        backend.add_scalars(scalars, step=step)
    return osp.join(run_dir, 'vis_data', 'scalars.json')


def test_reads_loss_and_gala_ratios_of_the_latest_run(tmp_path):
    work_dir = str(tmp_path)
    write_scalars(
        osp.join(work_dir, '20260101_000000'), [(1, dict(loss=9.0, lr=0.1))])
    latest = write_scalars(
        osp.join(work_dir, '20260102_000000'),
        [
            (1, dict(loss=2.5, lr=0.1, epoch=1, iter=1)),
            (2, {
                'loss': 2.0,
                'gala/pos_neg_ratio_many': 0.5,
                'gala/pos_neg_ratio_medium': 1.5,
                'gala/pos_neg_ratio_few': float('nan'),
                'gala1/pos_neg_ratio_few': 3.0
            }),
            (1, {
                'long-tail/top1': 50.0
            }),  # a validation line
            (3, {
                'train/loss': 1.0,
                'train/gala/pos_neg_ratio_many': 0.7
            }),
        ])
    # a later test run in the same work dir logs metrics only
    tested = write_scalars(osp.join(work_dir, '20260103_000000'),
                           [(0, {'long-tail/top1': 60.0})])
    assert find_scalars_files(work_dir) == [
        tested, latest,
        osp.join(work_dir, '20260101_000000', 'vis_data', 'scalars.json')
    ]
    scalars = read_training_scalars(work_dir)
    assert scalars['scalars_file'] == latest
    assert scalars['step'] == [1, 2, 3]
    assert scalars['loss'] == [2.5, 2.0, 1.0]
    assert scalars['ratios'] == {
        'gala': {
            'many': dict(step=[2, 3], value=[0.5, 0.7]),
            'medium': dict(step=[2], value=[1.5]),
            'few': dict(step=[2], value=[None]),
        },
        'gala1': {
            'few': dict(step=[2], value=[3.0])
        },
    }
    # a run directory itself is accepted too
    assert find_scalars_files(osp.dirname(osp.dirname(latest))) == [latest]


def test_work_dir_without_scalars_is_refused(tmp_path):
    os.makedirs(tmp_path / '20260101_000000')
    with pytest.raises(
            FileNotFoundError, match='has no vis_data/scalars.json'):
        read_training_scalars(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='is not a directory'):
        read_training_scalars(str(tmp_path / 'missing'))


def test_scalars_without_training_lines_are_refused(tmp_path):
    write_scalars(str(tmp_path), [(1, {'long-tail/top1': 50.0})])
    with pytest.raises(ValueError, match='has no training loss'):
        read_training_scalars(str(tmp_path))
    with open(tmp_path / 'vis_data' / 'scalars.json', 'a') as f:
        f.write('not json\n')
    with pytest.raises(ValueError, match='line 2: not a JSON object'):
        read_training_scalars(str(tmp_path))


def select_tau_output(path, **changes):
    """The JSON that tools/analysis/select_tau.py --out writes."""
    content = dict(
        method='prediction',
        metric='mean_class_acc',
        best_tau=0.5,
        table=[
            dict(tau=1.0, top1=60.0, mean_class_acc=55.0),
            dict(tau=0.0, top1=70.0, mean_class_acc=50.0),
            dict(tau=0.5, top1=65.0, mean_class_acc=58.0),
        ])
    content.update(changes)
    with open(path, 'w') as f:
        json.dump(content, f)
    return str(path)


def test_reads_a_tau_sweep_sorted_by_tau(tmp_path):
    sweep = read_tau_sweep(select_tau_output(tmp_path / 'tau.json'))
    assert sweep == dict(
        method='prediction',
        metric='mean_class_acc',
        best_tau=0.5,
        tau=[0.0, 0.5, 1.0],
        value=[50.0, 58.0, 55.0])


@pytest.mark.parametrize('changes, message', [
    (dict(best_tau=0.3), r'best_tau 0.3 is not in the table\'s taus'),
    (dict(table=[dict(tau=0.0)]), 'every row of `table` needs "tau" and '
     '"mean_class_acc"'),
    (dict(table=[]), 'every row of `table` needs'),
])
def test_bad_tau_sweeps_are_refused(tmp_path, changes, message):
    path = select_tau_output(tmp_path / 'tau.json', **changes)
    with pytest.raises(ValueError, match=message):
        read_tau_sweep(path)


def test_not_a_select_tau_file(tmp_path):
    path = tmp_path / 'tau.json'
    path.write_text('[1, 2]')
    with pytest.raises(ValueError, match="lacks \\['method', 'metric'"):
        read_tau_sweep(str(path))
    path.write_text('{')
    with pytest.raises(ValueError, match='cannot be read as JSON'):
        read_tau_sweep(str(path))
