"""The experiment layer under the demo, the benchmarks and the analysis
tools: split records, the held-out and choose-on-validation rules, the
train -> choose on val -> test protocol, and the writers."""
from .figures import (METRIC_KEYS, mean_std, split_figures,
                      split_probabilities, tau_table)
from .held_out import check_held_out, resolve_samples
from .machine import machine_info
from .protocol import (Candidate, choose_candidate, choose_then_test,
                       train_candidates)
from .runs import (build_split_loader, collect_split, find_head,
                   load_config, load_runner, loader_metainfo,
                   max_epochs_options, show_training_progress, train)
from .selection import (DEFAULT_TAUS, SELECTION_METRIC, SELECTION_RULE,
                        add_metric_argument, add_tau_argument,
                        check_tau_grid, choose_on_val, sorted_grid)
from .split_record import SplitRecord
from .test_dump import dump_samples, read_test_dump, write_test_dump
from .writers import (TABLE_COLUMNS, figures_table, format_figure,
                      markdown_table, plot_grouped_bars, text_table,
                      plot_per_class_accuracy, to_json, write_json)

__all__ = [
    'SplitRecord', 'read_test_dump', 'dump_samples', 'write_test_dump',
    'resolve_samples',
    'check_held_out', 'DEFAULT_TAUS',
    'SELECTION_METRIC', 'SELECTION_RULE', 'sorted_grid', 'check_tau_grid',
    'add_tau_argument', 'add_metric_argument',
    'choose_on_val', 'METRIC_KEYS', 'split_probabilities', 'split_figures',
    'mean_std',
    'tau_table',
    'Candidate', 'train_candidates', 'choose_candidate', 'choose_then_test',
    'load_config',
    'max_epochs_options', 'show_training_progress', 'train', 'load_runner',
    'build_split_loader',
    'collect_split', 'loader_metainfo', 'find_head', 'machine_info',
    'TABLE_COLUMNS', 'format_figure', 'markdown_table', 'text_table',
    'figures_table',
    'to_json', 'write_json', 'plot_per_class_accuracy', 'plot_grouped_bars'
]
