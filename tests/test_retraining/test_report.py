"""The study's table and summary writers against hand-computed cells."""
import pytest

from mmlt.retraining.report import (TABLE_FIGURES, summarize_studies,
                                    table_rows)


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
