"""The choose-on-validation rule: grid sorted, first maximum wins."""
import argparse
import math

import pytest

from mmlt.experiments import (DEFAULT_TAUS, add_tau_argument, check_tau_grid,
                              choose_on_val, sorted_grid)


def rows(pairs, key='tau'):
    return [{key: value, 'mean_class_acc': score} for value, score in pairs]


def test_highest_score_wins_in_any_order():
    table = rows([(1.0, 60.0), (0.5, 70.0), (0.0, 65.0)])
    assert choose_on_val(table, 'tau') is table[1]


@pytest.mark.parametrize('order', [(0, 1), (1, 0)])
def test_tie_goes_to_the_smallest_value_whatever_the_grid_order(order):
    # issue 11: `--taus 1 0` with equal scores must pick 0, like `--taus 0 1`
    pairs = [(0.0, 70.0), (1.0, 70.0)]
    table = rows([pairs[i] for i in order])
    assert choose_on_val(table, 'tau')['tau'] == 0.0


def test_three_way_tie_among_higher_values():
    table = rows([(2.0, 71.0), (0.0, 50.0), (1.5, 71.0), (0.5, 71.0)])
    assert choose_on_val(table, 'tau')['tau'] == 0.5


def test_tuple_grid_values_sort_lexicographically():
    table = rows([((1.2, 0.9), 64.0), ((1.0, 1.0), 64.0)], key='value')
    assert choose_on_val(table, 'value')['value'] == (1.0, 1.0)


def test_other_metric():
    table = [dict(tau=0.0, top1=80.0, mean_class_acc=60.0),
             dict(tau=1.0, top1=75.0, mean_class_acc=70.0)]
    assert choose_on_val(table, 'tau', 'top1')['tau'] == 0.0
    assert choose_on_val(table, 'tau')['tau'] == 1.0


def test_non_finite_score_is_refused():
    table = rows([(0.0, 60.0), (1.0, math.nan)])
    with pytest.raises(ValueError, match='tau=1.0 is not finite'):
        choose_on_val(table, 'tau')


def test_repeated_and_empty_grids_are_refused():
    with pytest.raises(ValueError, match='repeats 0.5'):
        choose_on_val(rows([(0.5, 1.0), (0.5, 2.0)]), 'tau')
    with pytest.raises(ValueError, match='grid is empty'):
        sorted_grid([], 'eps')


@pytest.mark.parametrize('bad', [math.nan, math.inf, -0.5, '1', True])
def test_tau_grid_must_be_finite_and_non_negative(bad):
    with pytest.raises(ValueError, match=f'got {bad!r} in'):
        check_tau_grid([0.0, bad])


def test_tau_grid_sorted():
    assert check_tau_grid([1, 0.5, 0]) == [0.0, 0.5, 1.0]
    assert DEFAULT_TAUS[0] == 0.0 and DEFAULT_TAUS[-1] == 2.0
    assert len(DEFAULT_TAUS) == 21 and DEFAULT_TAUS[3] == 0.3


def tau_parser(**kwargs):
    parser = argparse.ArgumentParser(prog='entry')
    add_tau_argument(parser, **kwargs)
    return parser


def test_tau_argument_default_sorted_and_shown():
    parser = tau_parser()
    assert parser.parse_args([]).taus == [round(0.1 * i, 1) for i in range(21)]
    assert parser.parse_args(['--taus', '1.5', '0']).taus == [0.0, 1.5]
    assert '(default 0, 0.1, ..., 2)' in parser.format_help()
    quarters = tau_parser(default=(2.0, 0.0, 1.0), what='grid')
    assert quarters.parse_args([]).taus == [0.0, 1.0, 2.0]
    assert 'grid (default 0, 1, ..., 2)' in quarters.format_help()


@pytest.mark.parametrize('taus, message', [
    (['nan'], 'got nan'), (['-1'], 'got -1.0'), (['1', '1'], 'repeats 1.0')])
def test_tau_argument_refuses_a_bad_grid(capsys, taus, message):
    with pytest.raises(SystemExit):
        tau_parser().parse_args(['--taus', *taus])
    err = capsys.readouterr().err
    assert '--taus grid' in err and message in err
