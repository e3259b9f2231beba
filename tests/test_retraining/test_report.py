"""The study's table and summary writers against hand-computed cells."""
import pytest

from mmlt.retraining.report import (TABLE_FIGURES, rank_correlation,
                                    summarize_studies, table_rows)


def result(top1, chosen, gala_tau):
    figures = {key: 1.0 for key in TABLE_FIGURES}
    figures['top1'] = top1
    figures['few'] = float('nan')
    return dict(
        method='lort',
        grid_key='eps',
        chosen=chosen,
        test=figures,
        gala=dict(tau=gala_tau, test=dict(figures, top1=top1 + 1)))


def test_rows_name_the_values_chosen_on_val():
    rows = table_rows([result(50.0, 0.9, 1.2)])
    assert [r['method'] for r in rows] == ['lort', 'lort + GALA']
    assert [r['chosen'] for r in rows] == ['eps=0.9', 'eps=0.9, GALA tau=1.2']
    assert rows[1]['top1'] == 51.0


def test_summary_is_mean_and_sample_std_over_runs():
    runs = [
        dict(
            info=dict(config='configs/x.py', train_class_counts=[50, 5]),
            rows=table_rows([result(top1, 0.9, 1.0)])) for top1 in (60, 64)
    ]
    text = summarize_studies(runs)
    assert text.startswith('### x.py, IF 10, 2 run(s)')
    lort = next(line for line in text.splitlines()
                if line.startswith('| lort |'))
    cells = [c.strip() for c in lort.strip('|').split('|')]
    # 60, 64: mean 62, sample std 2.83
    assert cells[1] == 'eps=0.9; eps=0.9'
    assert cells[2] == '62.00 ± 2.83'
    assert cells[2 + TABLE_FIGURES.index('few')] == 'n/a'
    runs[1]['rows'] = runs[1]['rows'][:1]
    with pytest.raises(ValueError, match='different methods'):
        summarize_studies(runs)


def test_rank_correlation_hand_worked():
    # no ties: rho = 1 - 6 sum d^2 / (n (n^2 - 1)) = 1 - 6 * 2 / 60
    assert rank_correlation([1, 2, 3, 4], [10, 30, 20, 40]) == pytest.approx(
        0.8)
    # ties share their mean rank: x ranks 1, 2.5, 2.5, 4 against 1 .. 4:
    # centred (-1.5, 0, 0, 1.5) . (-1.5, -0.5, 0.5, 1.5) = 4.5,
    # norms^2 4.5 and 5: rho = 4.5 / sqrt(22.5)
    assert rank_correlation([5, 7, 7, 9], [1, 2, 3, 4]) == pytest.approx(
        4.5 / 22.5**0.5)
    assert rank_correlation([3, 2, 1], [1, 2, 3]) == pytest.approx(-1)
    with pytest.raises(ValueError, match='constant'):
        rank_correlation([1, 1, 1], [1, 2, 3])
    with pytest.raises(ValueError, match='same length >= 3'):
        rank_correlation([1, 2], [1, 2])


def test_summary_gives_the_accuracy_lm_rsd_rank_correlation():
    def study(accuracies, lms, rsds):
        rows = []
        for index, (acc, lm, rsd) in enumerate(zip(accuracies, lms, rsds)):
            figures = {key: 1.0 for key in TABLE_FIGURES}
            figures.update(mean_class_acc=acc, lm=lm, rsd=rsd)
            for name in (f'm{index}', f'm{index} + GALA'):
                # GALA rows would break the ordering if they were counted
                rows.append(dict(method=name, chosen='eps=1', **dict(
                    figures, lm=-lm if 'GALA' in name else lm)))
        return dict(info=dict(config='x.py', train_class_counts=[50, 5]),
                    rows=rows)

    runs = [study([70, 60, 50], [1, 2, 3], [1, 3, 2]),
            study([70, 60, 50], [3, 2, 1], [1, 3, 2])]
    text = summarize_studies(runs)
    # LM: -1 and +1 (mean 0, sample std 1.41); RSD: ranks (3,2,1) against
    # (1,3,2): rho = 1 - 6 * (4 + 1 + 1) / 24 = -0.5 in both runs
    assert ('across the 3 methods of test mean per-class accuracy with mean '
            'LM: +0.00 ± 1.41 (per run: -1.00, +1.00).') in text
    assert 'with mean RSD: -0.50 ± 0.00 (per run: -0.50, -0.50).' in text
    one_method = dict(runs[0], rows=runs[0]['rows'][:2])
    assert 'needs at least 3 methods and these runs have 1' in (
        summarize_studies([one_method]))
