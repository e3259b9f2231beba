"""train_candidates / choose_then_test with a fake trainer and fake split
records: the choices, the tie rule and the order (every validation choice
before any test logits)."""
import numpy as np
import pytest
import torch

from mmlt.experiments import (SplitRecord, choose_candidate, choose_then_test,
                              train_candidates)

COUNTS = (200, 50, 8)


def fake_record(split, correct_per_class, seed):
    """20 samples per class; class c has the first correct_per_class[c]
    right (logit 4 on the label), the others predicted as class 0."""
    labels, logits = [], []
    for c, right in enumerate(correct_per_class):
        for k in range(20):
            z = np.zeros(3)
            z[c if k < right else 0 if c else 1] = 4.0
            labels.append(c)
            logits.append(z)
    return SplitRecord(split, torch.tensor(np.array(logits)).float(),
                       torch.tensor(labels), COUNTS)


# mean per-class accuracy on val by candidate: 0.5 -> 60, 0.7 -> 70,
# 0.9 -> 70 (a tie: 0.7, the smaller, must win)
VAL = {0.5: (20, 10, 6), 0.7: (20, 16, 6), 0.9: (20, 10, 12)}
TEST = {0.5: (1, 1, 1), 0.7: (18, 15, 5), 0.9: (2, 2, 2)}


@pytest.fixture
def trained():
    events = []

    def train(cfg, value):
        events.append(('train', value))
        return f'ckpt-{value}'

    # given unsorted: candidates are trained and listed in grid order
    candidates = train_candidates([0.9, 0.5, 0.7], lambda v: dict(eps=v),
                                  train)
    return candidates, events


def run(candidates, events, rebalancing=None):
    def val_record(candidate):
        events.append(('val', candidate.value))
        return fake_record('val', VAL[candidate.value], 0)

    def test_record(candidate):
        events.append(('test', candidate.value))
        return fake_record('test', TEST[candidate.value], 1)

    return choose_then_test(candidates, val_record, test_record,
                            rebalancing or {}, parameter='eps')


def test_candidates_in_grid_order(trained):
    candidates, events = trained
    assert [c.value for c in candidates] == [0.5, 0.7, 0.9]
    assert [c.checkpoint for c in candidates] == [
        'ckpt-0.5', 'ckpt-0.7', 'ckpt-0.9'
    ]
    assert candidates[1].cfg == dict(eps=0.7)
    assert events == [('train', 0.5), ('train', 0.7), ('train', 0.9)]


def test_best_on_val_with_tie_to_the_smaller_value(trained):
    candidates, events = trained
    result = run(candidates, events)
    assert result['candidate'] is candidates[1]
    (choice, ) = result['choices']
    assert choice['parameter'] == 'eps' and choice['chosen'] == 0.7
    assert [row['mean_class_acc'] for row in choice['validation']
            ] == pytest.approx([60.0, 70.0, 70.0])
    # the test figures are those of the 0.7 model: (18 + 15 + 5) / 60
    assert result['test']['plain']['mean_class_acc'] == pytest.approx(
        100 * (18 + 15 + 5) / 60)
    assert result['test']['plain']['few'] == pytest.approx(25.0)
    assert result['num_val'] == result['num_test'] == 60


def test_every_choice_before_the_test_split(trained):
    candidates, events = trained
    result = run(candidates, events, dict(PredictionRebalancing=[1.0, 0.0, 0.5]))
    del events[:3]  # the trainings
    assert events == [('val', 0.5), ('val', 0.7), ('val', 0.9),
                      ('test', 0.7)]
    tau_choice = result['choices'][1]
    assert tau_choice['grid'] == [0.0, 0.5, 1.0]
    assert [row['tau'] for row in tau_choice['validation']] == [0, 0.5, 1]
    assert set(result['test']) == {'plain', 'PredictionRebalancing'}


def test_one_candidate_no_rebalancing_reads_no_validation():
    events = []
    candidates = train_candidates(None, lambda v: {}, lambda c, v: 'c.pth')
    result = run([type(candidates[0])(0.5, {}, 'c.pth', 0.0)], events)
    assert events == [('test', 0.5)]
    assert result['choices'] == [] and result['num_val'] is None
    assert candidates[0].value is None


def test_test_record_of_another_split_is_refused(trained):
    candidates, _ = trained
    with pytest.raises(ValueError, match="test_record gave the 'val'"):
        choose_then_test(candidates[:1], None,
                         lambda c: fake_record('val', TEST[0.5], 0))


def test_bad_tau_grid_refused_before_any_validation(trained):
    candidates, events = trained
    with pytest.raises(ValueError, match='got nan in'):
        run(candidates, events, dict(PredictionRebalancing=[0.0, float('nan')]))
    assert [e for e in events if e[0] != 'train'] == []


def test_choose_candidate_alone(trained):
    # what sweep_eps uses: no test split; a one-value grid is its own choice
    candidates, _ = trained
    records = {c.value: fake_record('val', VAL[c.value], 0)
               for c in candidates}
    chosen, choice = choose_candidate(candidates[::-1],
                                      lambda c: records[c.value], 'eps')
    assert chosen is candidates[1] and choice['chosen'] == 0.7
    assert choice['grid'] == [0.9, 0.7, 0.5] and choice['method'] is None
    assert [row['value'] for row in choice['validation']] == [0.9, 0.7, 0.5]
    assert 'class_acc' not in choice['validation'][0]
    # top1 = mean per class here (20 samples per class): same tie
    chosen, _ = choose_candidate(candidates, lambda c: records[c.value],
                                 metric='top1')
    assert chosen is candidates[1]
    chosen, choice = choose_candidate(candidates[2:],
                                      lambda c: records[c.value])
    assert chosen is candidates[2]
    assert choice['validation'][0]['mean_class_acc'] == pytest.approx(
        100 * (20 + 10 + 12) / 60)
