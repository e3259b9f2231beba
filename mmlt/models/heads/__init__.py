from .logits_linear_head import LogitsLinearClsHead
from .normed_linear_head import NormedLinearClsHead
from .rebalanced_linear_head import RebalancedLinearClsHead

__all__ = [
    'LogitsLinearClsHead', 'RebalancedLinearClsHead', 'NormedLinearClsHead'
]
