"""report_from_runs: the rows' dumps, tau tables and the report's numbers
against figures computed here with numpy."""
import json

import numpy as np
import pytest
import torch

from mmlt.experiments import SplitRecord, read_test_dump
from mmlt.report import ReportRow, report_from_runs, tau_sweep_content

COUNTS = (200, 50, 5)


def make_record(split='test'):
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(300) % 3
    logits = torch.randn(300, 3, generator=generator) + \
        1.5 * torch.nn.functional.one_hot(labels, 3)
    return SplitRecord(split, logits, labels, COUNTS, ('a', 'b', 'c'))


def numpy_figures(probs: np.ndarray, labels: np.ndarray):
    predicted = probs.argmax(axis=1)
    class_acc = [100 * np.mean(predicted[labels == c] == c) for c in range(3)]
    return dict(
        top1=100 * np.mean(predicted == labels),
        mean_class_acc=np.mean(class_acc),
        many=class_acc[0],
        medium=class_acc[1],
        few=class_acc[2])


TAU_CHOICE = dict(
    parameter='tau',
    method='PredictionRebalancing',
    grid=[0.0, 1.0],
    rule='highest mean_class_acc',
    chosen=1.0,
    validation=[
        dict(tau=0.0, mean_class_acc=50.0, top1=52.0),
        dict(tau=1.0, mean_class_acc=60.0, top1=58.0)
    ])


def test_report_of_plain_and_rebalanced_rows(tmp_path):
    record = make_record()
    html = report_from_runs(
        str(tmp_path), [
            ReportRow('CE', record),
            ReportRow('CE + re-balancing (tau 1)', record,
                      'PredictionRebalancing', 1.0)
        ],
        tau_choices={'ce tau': TAU_CHOICE})
    assert html == str(tmp_path / 'report.html')
    with open(tmp_path / 'report.json') as f:
        report = json.load(f)
    labels = record.labels.numpy()
    logits = record.logits.double().numpy()
    plain = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    # PredictionRebalancing, tau 1: divide by the test column masses
    rebalanced = plain / plain.sum(axis=0)
    rebalanced /= rebalanced.sum(axis=1, keepdims=True)
    for result, probs in zip(report['results'], (plain, rebalanced)):
        expected = numpy_figures(probs, labels)
        for key, value in expected.items():
            assert result['metrics'][key] == pytest.approx(value)
    assert rebalanced.argmax(1).tolist() != plain.argmax(1).tolist()

    dump = read_test_dump(str(tmp_path / 'predictions' / 'ce.pkl'))
    np.testing.assert_allclose(dump['scores'], plain, rtol=1e-5)
    np.testing.assert_allclose(dump['logits'], logits, rtol=1e-6)
    dump = read_test_dump(
        str(tmp_path / 'predictions' / 'ce_re_balancing_tau_1.pkl'))
    np.testing.assert_allclose(dump['scores'], rebalanced, rtol=1e-5)
    assert 'logits' not in dump  # re-balancing changes the scores only

    with open(tmp_path / 'tau_sweeps' / 'ce_tau.json') as f:
        assert json.load(f) == tau_sweep_content(TAU_CHOICE)
    assert report['tau_sweeps'] == [
        dict(
            name='ce_tau',
            method='PredictionRebalancing',
            metric='mean_class_acc',
            best_tau=1.0,
            tau=[0.0, 1.0],
            value=[50.0, 60.0])
    ]


def test_bad_rows_are_refused(tmp_path):
    with pytest.raises(ValueError, match='no rows'):
        report_from_runs(str(tmp_path), [])
    with pytest.raises(ValueError, match="'val' split"):
        report_from_runs(str(tmp_path), [ReportRow('CE', make_record('val'))])
    record = make_record()
    with pytest.raises(ValueError, match='distinct names'):
        report_from_runs(str(tmp_path),
                         [ReportRow('CE+', record),
                          ReportRow('CE-', record)])
    with pytest.raises(ValueError, match="choice of 'value'"):
        tau_sweep_content(dict(parameter='value'))
