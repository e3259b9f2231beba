from .long_tail_accuracy import LongTailAccuracy
from .rebalanced_accuracy import RebalancedAccuracy

__all__ = ['LongTailAccuracy', 'RebalancedAccuracy']
