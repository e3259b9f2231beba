"""The long-tail report of ``tools/analysis/lt_report.py``."""
from .long_tail_analysis import (accuracy_by_training_count, analyze_result,
                                 confusion_by_training_count, logits_per_class,
                                 reliability_bins, tail_confusions)
from .long_tail_report import LongTailReport, report_from_files
from .experiment_report import ReportRow, report_from_runs, tau_sweep_content
from .training_logs import (find_scalars_files, read_tau_sweep,
                            read_training_scalars)

__all__ = [
    'accuracy_by_training_count', 'analyze_result',
    'confusion_by_training_count', 'logits_per_class', 'reliability_bins',
    'tail_confusions', 'LongTailReport', 'report_from_files', 'ReportRow',
    'report_from_runs', 'tau_sweep_content',
    'find_scalars_files', 'read_tau_sweep', 'read_training_scalars'
]
