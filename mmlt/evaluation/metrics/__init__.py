from .long_tail_accuracy import LongTailAccuracy
from .rebalanced_accuracy import RebalancedAccuracy
from .logits_statistics import LogitsStatistics
from .sample_copy_dump import SampleCopyDumpResults

__all__ = ['LongTailAccuracy', 'RebalancedAccuracy', 'LogitsStatistics',
           'SampleCopyDumpResults']
