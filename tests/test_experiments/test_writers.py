"""Markdown / JSON writers, plots and machine_info."""
import json
import math

import matplotlib.pyplot as plt
import pytest

from mmlt.experiments import (figures_table, format_figure, machine_info,
                              markdown_table, plot_grouped_bars,
                              plot_per_class_accuracy, text_table, write_json)

FIGS = dict(top1=71.234, mean_class_acc=64.5, many=90.0, medium=60.125,
            few=math.nan, ece=4.567, class_acc=[90.0, 60.125, 43.375])


def test_figures_table():
    assert figures_table([dict(FIGS, method='CE')]).splitlines() == [
        '| Method | Overall | Mean/class | Many | Medium | Few | ECE |',
        '|---|---:|---:|---:|---:|---:|---:|',
        '| CE | 71.23 | 64.50 | 90.00 | 60.12 | n/a | 4.57 |',
    ]


def test_cells_and_tables():
    assert format_figure(64.123, 1, std=1.06) == '64.1 ± 1.1'
    assert format_figure(12.345, 1, std=math.nan) == '12.3'
    assert markdown_table(['tau', 'acc'], [['0', '1.0']], [True, True]) == (
        '| tau | acc |\n|---:|---:|\n| 0 | 1.0 |')
    with pytest.raises(ValueError, match='A row has 1 cells for 2 columns'):
        markdown_table(['a', 'b'], [['x']])


def test_write_json(tmp_path):
    write_json(str(tmp_path / 'r.json'), dict(few=math.nan, grid=(1, 2)))
    assert json.loads((tmp_path / 'r.json').read_text()) == dict(
        few=None, grid=[1, 2])


def test_plots(tmp_path):
    path = str(tmp_path / 'per_class.png')
    plot_per_class_accuracy([dict(FIGS, method='CE')], [500, 50, 5],
                            ['a', 'b', 'c'], path)
    assert plt.imread(path).shape[1] > 600
    bars = str(tmp_path / 'bars.png')
    row = dict(method='CE', mean=FIGS, std=dict(FIGS, many=math.nan))
    plot_grouped_bars([dict(title='IF 100', rows=[row])], bars)
    assert plt.imread(bars).shape[0] > 200


def test_machine_info():
    info = machine_info(2, ['cpu'])
    assert info['threads_requested'] == 2 and info['devices'] == ['cpu']
    assert info['logical_cpus'] >= 1 and info['cuda_device'] is None
    assert info['git_commit'] is None or len(info['git_commit']) >= 40


def test_text_table():
    table = text_table([('model', '<6'), ('img/s', '>7'), ('status', '')],
                       [['r32', '1234.5', 'pass'], ['resnext', '9.0', '']])
    assert table.split('\n') == [
        'model    img/s status',
        'r32     1234.5 pass',
        'resnext     9.0 ',  # a cell wider than its column is kept whole
    ]
    with pytest.raises(ValueError, match='A row has 2 cells for 3 columns'):
        text_table([('a', ''), ('b', ''), ('c', '')], [['1', '2']])
