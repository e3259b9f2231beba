from .long_tail_accuracy import LongTailAccuracy
from .rebalanced_accuracy import RebalancedAccuracy
from .logits_statistics import LogitsStatistics

__all__ = ['LongTailAccuracy', 'RebalancedAccuracy', 'LogitsStatistics']
