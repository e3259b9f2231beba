"""Runs benchmarks/lt_report_scale.py on a tiny size and checks its JSON
report (schema and the memory arithmetic, not timings)."""
import importlib.util
import json
import os.path as osp

import mmengine
import numpy as np

from mmlt.experiments import read_test_dump

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def load_script():
    spec = importlib.util.spec_from_file_location(
        'lt_report_scale',
        osp.join(REPO_ROOT, 'benchmarks', 'lt_report_scale.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synthetic_dump_is_a_readable_test_dump(tmp_path):
    path = str(tmp_path / 'dump.pkl')
    load_script().write_dump(path, 300, 7, with_logits=True)
    assert len(mmengine.load(path)) == 300
    dump = read_test_dump(path)
    np.testing.assert_array_equal(dump['labels'], np.arange(300) % 7)
    np.testing.assert_allclose(dump['scores'].sum(1), 1, rtol=1e-5)
    assert dump['logits'].shape == (300, 7)


def test_tiny_run_writes_the_table_and_json(tmp_path, capsys):
    out = tmp_path / 'scale.json'
    report = load_script().main(
        ['--num-samples', '50', '--num-classes', '12', '--out',
         str(out)])
    with open(out) as f:
        assert json.load(f) == report
    assert report['scores_bytes'] == 50 * 12 * 4
    assert [row['dump']
            for row in report['rows']] == ['scores', 'scores + logits']
    for row in report['rows']:
        assert row['seconds'] > 0
        assert row['extra_rss_bytes'] == (
            row['peak_rss_bytes'] - report['imports_peak_rss_bytes'])
    assert '| scores + logits |' in capsys.readouterr().out
