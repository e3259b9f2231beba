"""Runs benchmarks/lt_report_scale.py on a tiny size, its children in this
process (child processes would import torch and the report again, tens of
seconds here), and checks its JSON report (schema and the memory arithmetic,
not timings)."""
import importlib.util
import json
import os.path as osp
import pickletools
import runpy
import sys

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
    # written as DumpResults writes (mmengine.dump: pickle with a memo)
    with open(path, 'rb') as f:
        assert 'BINPUT' in {op.name for op, _, _ in pickletools.genops(f)}
    # as tools/test.py --out writes: the same samples, no memo
    no_memo = str(tmp_path / 'no_memo.pkl')
    load_script().write_dump(no_memo, 300, 7, True, 'dump_without_memo')
    with open(no_memo, 'rb') as f:
        assert 'BINPUT' not in {
            op.name
            for op, _, _ in pickletools.genops(f)
        }
    np.testing.assert_array_equal(read_test_dump(no_memo)['logits'],
                                  dump['logits'])


def test_tiny_run_writes_the_table_and_json(tmp_path, capsys, monkeypatch):
    script = load_script()
    children = []

    def in_process(args, cwd):
        """The child's command run here; peaks of 100, 101, ... MiB in the
        order imports, then per dump: write (mmengine.dump), write
        (dump_without_memo), read, report."""
        assert cwd == REPO_ROOT
        if args[0] == '-c':
            exec(args[1], {})
        else:
            monkeypatch.setattr(sys, 'argv', list(args))
            runpy.run_path(osp.join(cwd, args[0]), run_name='__main__')
            if args[0] == 'tools/analysis/lt_report.py':
                assert osp.isfile(osp.join(args[-1], 'report.html'))
        children.append(args)
        return dict(
            seconds=0.5,
            cpu_seconds=0.25,
            peak_rss_bytes=(100 + len(children) - 1) * 2**20)

    monkeypatch.setattr(script, 'run_child', in_process)
    out = tmp_path / 'scale.json'
    report = script.main(
        ['--num-samples', '50', '--num-classes', '12', '--out',
         str(out)])
    with open(out) as f:
        assert json.load(f) == report
    assert len(children) == 9
    # of the dump with logits
    write, no_memo, read = children[5], children[6], children[7]
    assert write[:2] == ['benchmarks/lt_report_scale.py', '--write-dump']
    assert write[-1] == '--with-logits' and repr(write[2]) in read[1]
    assert write[-3:-1] == ['--writer', 'mmengine.dump']
    assert no_memo[-3:-1] == ['--writer', 'dump_without_memo']
    assert no_memo[2] != write[2]  # its own file, deleted after measuring
    assert all(row['dump_without_memo_bytes'] > 0 for row in report['rows'])
    assert report['scores_bytes'] == 50 * 12 * 4
    assert report['imports_peak_rss_bytes'] == 100 * 2**20
    assert [row['dump']
            for row in report['rows']] == ['scores', 'scores + logits']
    assert [row['arrays_bytes'] for row in report['rows']] == [2400, 4800]
    extra = [
        row[step]['extra_rss_bytes'] for row in report['rows']
        for step in ('write', 'write_without_memo', 'read', 'report')
    ]
    assert extra == [i * 2**20 for i in range(1, 9)]
    logits_report = report['rows'][1]['report']
    assert logits_report['extra_rss_over_scores'] == 8 * 2**20 / 2400
    assert logits_report['extra_rss_over_arrays'] == 8 * 2**20 / 4800
    assert report['parent_peak_rss_bytes'] > 2**20
    table = capsys.readouterr().out
    assert '| scores + logits | 0.00 | lt_report.py | 0.5 | 0.2 | 0.11 |' in (
        table)
    assert '| 3495.25x | 1747.63x |' in table  # 8 MiB / 2,400 and / 4,800 B
    assert '| dump_without_memo |' in table
