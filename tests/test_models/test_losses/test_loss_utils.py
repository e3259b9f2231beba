"""The shared input checks and the reduction with a precomputed gradient."""
import pytest
import torch
from mmpretrain.models.losses.utils import weight_reduce_loss

from mmlt.models.losses.utils import (check_cls_score, check_labels,
                                      check_num_classes, reduce_with_gradient,
                                      resolve_reduction)

CASES = [
    dict(reduction='none'),
    dict(reduction='mean'),
    dict(reduction='sum'),
    dict(reduction='mean', avg_factor=5.0),
    dict(reduction='none', avg_factor=5.0),
    dict(reduction='mean', weighted=True),
    dict(reduction='sum', weighted=True),
    dict(reduction='none', weighted=True),
]


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16])
def test_reduce_with_gradient_matches_autograd(case, dtype):
    """Per-sample losses l_i = sum_j z_ij^2 / 2 (gradient z) through
    reduce_with_gradient against autograd through weight_reduce_loss."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, generator=generator).to(dtype)
    weight = torch.rand(4, generator=generator) if case.get('weighted') \
        else None
    upstream = torch.randn(4, generator=generator)
    avg_factor = case.get('avg_factor')

    z = logits.clone().requires_grad_(True)
    values = z.detach().float()
    value = reduce_with_gradient(z, values.pow(2).sum(dim=1) / 2, values,
                                 weight, case['reduction'], avg_factor, 1.5)
    z_ref = logits.double().requires_grad_(True)
    expected = 1.5 * weight_reduce_loss(
        z_ref.pow(2).sum(dim=1) / 2,
        weight=None if weight is None else weight.double(),
        reduction=case['reduction'],
        avg_factor=avg_factor)
    torch.testing.assert_close(
        value.double(), expected.detach(), rtol=1e-6, atol=1e-7)
    if value.dim():
        value.backward(upstream)
        expected.backward(upstream.double())
    else:
        value.backward()
        expected.backward()
    assert z.grad.dtype == dtype  # rounded to bfloat16 (8 bits) there
    rtol = 1e-6 if dtype == torch.float32 else 2**-8
    torch.testing.assert_close(
        z.grad.double(), z_ref.grad, rtol=rtol, atol=1e-7)


def test_avg_factor_with_sum_is_an_error():
    z = torch.randn(2, 3, requires_grad=True)
    with pytest.raises(ValueError, match='avg_factor'):
        reduce_with_gradient(z, torch.ones(2), torch.ones(2, 3), None, 'sum',
                             2.0, 1.0)


def test_checks_name_the_loss_and_the_bad_value():
    scores = torch.randn(3, 4)
    with pytest.raises(ValueError, match=r'^MyLoss: label 7 \(sample 2\)'):
        check_labels(torch.tensor([0, 1, 7]), scores, 'MyLoss')
    with pytest.raises(
            ValueError,
            match=r'MyLoss needs hard labels .*\(3,\).* Because\. Batch'):
        check_labels(
            torch.full((3, 4), 0.25),
            scores,
            'MyLoss',
            hard_label_reason='Because. ')
    assert check_labels(torch.full((3, 4), 0.25), scores, 'MyLoss', True)
    assert not check_labels(torch.tensor([0, 3, 1]), scores, 'MyLoss')
    assert not check_labels(
        torch.zeros(0, dtype=torch.long), torch.zeros(0, 4), 'MyLoss')
    with pytest.raises(ValueError, match=r'shape \(N, 5\), got \(4,\)'):
        check_cls_score(torch.zeros(4), 'MyLoss', 5)
    with pytest.raises(
            ValueError,
            match=r'^MyLoss was built for 5 but cls_score has 4 classes'):
        check_cls_score(scores, 'MyLoss', 5, 'was built for 5')
    with pytest.raises(ValueError, match=r"reduction_override .* 'avg'"):
        resolve_reduction('mean', 'avg', 'MyLoss')
    assert resolve_reduction('mean', None, 'MyLoss') == 'mean'
    for bad in (True, 1, 2.0):
        with pytest.raises(ValueError, match='num_classes must be'):
            check_num_classes(bad, 'MyLoss')
