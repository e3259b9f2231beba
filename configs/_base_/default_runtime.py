# MMPretrain's default runtime plus two mmlt hooks (mmlt is imported by the
# dataset configs of configs/_base_/datasets/):
# - long_tail_check (LongTailCheckHook): before the first iteration, the
#   head's num_classes must fit the data, metrics that read the raw logits
#   need a head that keeps them, and the val / test splits must report the
#   training counts of the train split (or of the checkpoint when testing);
# - class_accuracy (ClassAccuracyHook): every class's validation accuracy to
#   the visualizer. Turn it off with
#   --cfg-options default_hooks.class_accuracy=None (e.g. for 8,142 classes).
_base_ = ['mmpretrain::_base_/default_runtime.py']

default_hooks = dict(
    long_tail_check=dict(type='LongTailCheckHook'),
    class_accuracy=dict(type='ClassAccuracyHook'))
