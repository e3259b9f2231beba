import base64
import json
import os.path as osp
import re

import mmengine
import numpy as np
import pytest
import torch

from mmlt.evaluation import LongTailAccuracy
from mmlt.experiments import (METRIC_KEYS, SplitRecord, read_test_dump,
                              split_figures, write_test_dump)
from mmlt.report import LongTailReport, report_from_files

COUNTS = [200, 120, 40, 25, 10, 3]
CLASSES = ['shirt', 'shoe', 'bag', 'coat', 'sandal <b>', 'boot']


def predictions(seed, num_samples=90, with_logits=True):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_samples) % len(COUNTS)
    logits = torch.randn(num_samples, len(COUNTS), generator=g)
    logits[torch.arange(num_samples), labels] += 1.0
    scores = torch.softmax(logits, 1).numpy()
    return scores, labels.numpy(), logits.numpy() if with_logits else None


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('report'))
    report = LongTailReport(COUNTS, CLASSES)
    report.add_result('CE', *predictions(0), source='ce.pkl')
    report.add_result(
        'GALA', *predictions(1, with_logits=False), source='gala.pkl')
    report.add_training(
        'gala',
        dict(
            scalars_file='x',
            step=[1, 2],
            loss=[2.0, 1.0],
            ratios={'gala': {
                'few': dict(step=[2], value=[0.5])
            }}))
    report.add_tau_sweep(
        'tau',
        dict(
            method='prediction',
            metric='mean_class_acc',
            best_tau=0.5,
            tau=[0.0, 0.5],
            value=[40.0, 45.0]))
    page = report.write(out)
    with open(osp.join(out, 'report.json')) as f:
        content = json.load(f)
    with open(page, encoding='utf-8') as f:
        html = f.read()
    return out, content, html


def test_table_equals_the_metric_on_the_same_predictions(written):
    _, content, html = written
    for result, seed in zip(content['results'], (0, 1)):
        scores, labels, _ = predictions(seed)
        expected = LongTailAccuracy.calculate(
            scores.argmax(1),
            labels,
            len(COUNTS),
            confidences=scores.max(1),
            train_class_counts=COUNTS)
        for key, value in expected.items():
            assert result['metrics'][key] == pytest.approx(value)
            assert f'<td class="num">{value:.2f}</td>' in html
    assert 'lm' in content['results'][0]['metrics']
    assert 'lm' not in content['results'][1]
    assert 'Without logits (no <code>pred_logits</code> in the dump): GALA' \
        in html


def test_page_is_self_contained_with_the_figures_beside_it(written):
    out, content, html = written
    assert '<script' not in html.lower()
    assert not re.search(r'(src|href)\s*=\s*"(?!data:image/png;base64,)', html)
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    files = [
        content['figures']['class_accuracy'], *content['figures']['confusion'],
        *content['figures']['reliability'], content['figures']['logits'],
        *content['figures']['training'], *content['figures']['tau']
    ]
    assert len(embedded) == len(files) == 8
    beside = []
    for name in files:
        with open(osp.join(out, name), 'rb') as f:
            beside.append(f.read())
    assert sorted(map(base64.b64decode, embedded)) == sorted(beside)
    assert 'sandal &lt;b&gt;' in html and 'sandal <b>' not in html


def test_json_has_the_per_class_numbers_of_the_page(written):
    _, content, _ = written
    assert content['classes'] == CLASSES
    assert content['train_class_counts'] == COUNTS
    assert content['shot_groups']['num_classes'] == dict(
        many=2, medium=2, few=2)
    ce = content['results'][0]
    assert len(ce['class_accuracy']) == len(ce['lm']) == len(COUNTS)
    assert [e['class'] for e in ce['tail_confusions']] == [4, 5]
    assert ce['confusion']['kind'] == 'classes'
    assert np.array(ce['confusion']['matrix']).sum() == 90
    assert content['tau_sweeps'][0]['best_tau'] == 0.5


@pytest.mark.parametrize('other, message', [
    (dict(scores=np.full((90, 5), 0.2)),
     'train_class_counts has 6 entries but the scores of '
     "'B' \\(b.pkl\\) have 5 classes"),
    (dict(scores=np.full((80, 6), 0.1), labels=np.arange(80) % 6),
     "'A' \\(a.pkl\\) has 90 samples, 'B' \\(b.pkl\\) has 80"),
    (dict(labels=(np.arange(90) + 1) % 6),
     "sample 0 has label 0 in 'A' \\(a.pkl\\) but 1 in 'B'"),
])
def test_results_of_different_test_sets_are_refused(other, message):
    report = LongTailReport(COUNTS)
    scores, labels, _ = predictions(0)
    report.add_result('A', scores, labels, source='a.pkl')
    args = dict(dict(scores=scores, labels=labels), **other)
    with pytest.raises(ValueError, match=message):
        report.add_result('B', args['scores'], args['labels'], source='b.pkl')


def test_bad_report_arguments():
    with pytest.raises(ValueError, match='Got 2 class names for 6'):
        LongTailReport(COUNTS, ['a', 'b'])
    with pytest.raises(ValueError, match='at least one result'):
        LongTailReport(COUNTS).build()
    with pytest.raises(ValueError, match='non-negative integers'):
        LongTailReport([3, -1])


def test_table_equals_the_experiment_layers_test_figures(tmp_path):
    # the figures every tool computes (mmlt.experiments.split_figures on the
    # dump's SplitRecord) for a plain head, whose pred_score is softmax(z)
    scores, labels, logits = predictions(2)
    path = str(tmp_path / 'pred.pkl')
    mmengine.dump([
        dict(
            pred_score=torch.from_numpy(s),
            pred_logits=torch.from_numpy(z),
            gt_label=torch.tensor([int(y)]))
        for s, z, y in zip(scores, logits, labels)
    ], path)
    expected = split_figures(SplitRecord.from_dump(path, COUNTS))
    dump = read_test_dump(path)
    report = LongTailReport(COUNTS)
    report.add_result(
        'plain', dump['scores'], dump['labels'], dump['logits'], source=path)
    result = report.results[0]
    for key in METRIC_KEYS:
        assert result['metrics'][key] == pytest.approx(expected[key], rel=1e-6)
    np.testing.assert_allclose(result['class_accuracy'], expected['class_acc'])


def test_report_from_files_names_and_defaults(tmp_path):
    paths = []
    for seed, name in ((0, 'ce'), (1, 'gala')):
        scores, labels, logits = predictions(seed)
        paths.append(str(tmp_path / f'{name}.pkl'))
        write_test_dump(paths[-1], scores, labels, logits)
    with pytest.raises(ValueError, match='Got 1 names for 2 results'):
        report_from_files(str(tmp_path / 'r'), paths, COUNTS, names=['x'])
    page = report_from_files(str(tmp_path / 'r'), paths, COUNTS)
    with open(osp.join(osp.dirname(page), 'report.json')) as f:
        report = json.load(f)
    assert [r['name'] for r in report['results']] == ['ce', 'gala']
    assert [r['source'] for r in report['results']] == paths
