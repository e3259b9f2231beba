from .logits_linear_head import LogitsLinearClsHead
from .rebalanced_linear_head import RebalancedLinearClsHead

__all__ = ['LogitsLinearClsHead', 'RebalancedLinearClsHead']
