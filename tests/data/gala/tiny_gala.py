# Tiny GALA run for tests/test_tools/test_gala_dist.py: a BN-free MLP on
# synthetic 3x4x4 inputs (tests/data/gala/gala_test_modules.py, on
# PYTHONPATH in the tests), 5 classes, GALA loss + re-balancing head,
# gradients accumulated over 2 iterations.
_base_ = ['mmpretrain::_base_/default_runtime.py']

custom_imports = dict(
    imports=['mmlt', 'gala_test_modules'], allow_failed_imports=False)

train_class_counts = (24, 12, 6, 4, 2)  # 48 samples: 12 batches of 4
rebalance = dict(type='PredictionRebalancing', tau=1.0)  # head and metric

model = dict(
    type='ImageClassifier',
    backbone=dict(type='GALATinyMLP', in_features=48, hidden=16),
    head=dict(
        type='RebalancedLinearClsHead',
        rebalance=rebalance,
        num_classes=5,
        in_channels=16,
        loss=dict(type='GALALoss', num_classes=5, lambda1=1.2, lambda2=0.9)))
data_preprocessor = dict(num_classes=5)

train_dataloader = dict(
    batch_size=4,  # the tests use 2 per process for 2 processes
    num_workers=0,
    dataset=dict(
        type='GALASyntheticDataset',
        class_sizes=train_class_counts,
        train_class_counts=train_class_counts,
        seed=0,
        pipeline=[dict(type='PackInputs')]),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    dataset=dict(
        type='GALASyntheticDataset',
        class_sizes=(5, 5, 5, 5, 5),
        train_class_counts=train_class_counts,
        seed=1,
        pipeline=[dict(type='PackInputs')]),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = dict(
    batch_size=4,
    num_workers=0,
    dataset=dict(
        type='GALASyntheticDataset',
        class_sizes=(9, 8, 8, 8, 8),  # 41: uneven over 2 processes
        train_class_counts=train_class_counts,
        seed=2,
        pipeline=[dict(type='PackInputs')]),
    sampler=dict(type='DefaultSampler', shuffle=False))

val_evaluator = dict(
    type='RebalancedAccuracy',
    rebalance=rebalance,
    many_shot_thr=10,
    low_shot_thr=5)
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.2, momentum=0.9), accumulative_counts=2)
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=10)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(type='CheckpointHook', interval=1))
custom_hooks = [
    dict(
        type='AccumulatedGradientHook',
        interval=2,
        many_shot_thr=10,
        low_shot_thr=5),
    dict(type='DumpGALAStatsHook'),
    dict(type='DumpTestMetricsHook'),
]
randomness = dict(seed=0, deterministic=True)
