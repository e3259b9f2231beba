"""tools/analysis/plot_logits.py: class names on the axis, and a class with
LM <= 0 (undefined RSD) marked apart instead of swamping the RSD axis."""
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'plot_logits',
        osp.join(REPO_ROOT, 'tools', 'analysis', 'plot_logits.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(path, lm, rsd, classes=('cat', 'dog', 'emu', 'fox')):
    content = dict(
        lm=lm,
        rsd=rsd,
        std=[1.0] * len(lm),
        eval_count=[3] * len(lm),
        train_class_counts=[5, 50, 500, 30],
        classes=list(classes) if classes else None,
        metrics={},
        std_kind='population')
    path.write_text(json.dumps(content))
    return str(path)


@pytest.fixture
def tool():
    return load_tool()


def test_class_names_and_undefined_rsd(tool, tmp_path):
    # head first: emu (500), dog (50), fox (30), cat (5); dog has LM < 0,
    # so its RSD (std / LM) is a large negative number
    ce = write(tmp_path / 'ce.json', [1.0, -0.01, 2.0, 1.5],
               [0.5, -100.0, 0.25, 0.4])
    lort = write(tmp_path / 'lort.json', [1.1, 0.9, 1.0, 1.0],
                 [0.6, 0.7, 0.5, 0.55])
    stats = [tool.load_statistics(ce), tool.load_statistics(lort)]
    fig = tool.draw_logits(stats, ['CE', 'LORT'], 100, 20)
    lm_ax, rsd_ax = fig.axes
    names = [t.get_text() for t in rsd_ax.get_xticklabels()]
    assert names == ['emu', 'dog', 'fox', 'cat']
    ce_rsd = rsd_ax.get_lines()[0].get_ydata()
    np.testing.assert_array_equal(np.isnan(ce_rsd), [False, True, False,
                                                     False])
    np.testing.assert_allclose(ce_rsd[[0, 2, 3]], [0.25, 0.4, 0.5])
    # the axis spans the defined values, not -100
    bottom, top = rsd_ax.get_ylim()
    assert -1 < bottom < 0.25 and top < 1
    marks = [
        line for line in rsd_ax.get_lines()
        if line.get_label() == 'CE: LM <= 0, RSD not shown'
    ]
    assert len(marks) == 1
    assert list(marks[0].get_xdata()) == [1]
    assert list(marks[0].get_ydata()) == [bottom]
    # LM keeps every class, the negative one included
    np.testing.assert_allclose(lm_ax.get_lines()[0].get_ydata(),
                               [2.0, -0.01, 1.5, 1.0])
    png = tmp_path / 'logits.png'
    tool.main([ce, lort, '--labels', 'CE', 'LORT', '--out', str(png)])
    assert png.stat().st_size > 0


def test_without_class_names_the_indices_are_shown(tool, tmp_path):
    path = write(tmp_path / 'a.json', [1.0] * 4, [0.5] * 4, classes=None)
    fig = tool.draw_logits([tool.load_statistics(path)], ['a'])
    names = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert names == ['2', '1', '3', '0']
    assert not [
        line for line in fig.axes[1].get_lines()
        if 'RSD not shown' in line.get_label()
    ]
