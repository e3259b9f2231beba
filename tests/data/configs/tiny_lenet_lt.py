# Tiny long-tailed classification run for the tool tests: LeNet-5 on 32x32
# grayscale PNGs in class folders (written by the tests under `data_root`,
# train class sizes 10 / 6 / 3, 5 val images per class), 2 epochs on CPU.
# The tests set the three `data_root` fields with --cfg-options.
_base_ = ['mmpretrain::_base_/default_runtime.py']

custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

train_class_counts = (10, 6, 3)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='LeNet5'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=3,
        in_channels=120,
        loss=dict(type='CrossEntropyLoss')))

data_preprocessor = dict(
    num_classes=3, mean=[127.5], std=[127.5], to_rgb=False)

pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    dataset=dict(
        type='CustomDataset',
        data_root='data/tiny_lt',
        data_prefix='train',
        pipeline=pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    dataset=dict(
        type='CustomDataset',
        data_root='data/tiny_lt',
        data_prefix='val',
        pipeline=pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='LongTailAccuracy',
    train_class_counts=train_class_counts,
    many_shot_thr=8,
    low_shot_thr=5)
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
# An explicit `end`: by default mmengine ends a schedule at max_epochs and a
# resumed run keeps the checkpoint's `end`, so the resume test (which extends
# max_epochs) needs a schedule that does not depend on max_epochs.
param_scheduler = dict(
    type='MultiStepLR',
    by_epoch=True,
    milestones=[1, 2],
    gamma=0.5,
    begin=0,
    end=100)
train_cfg = dict(by_epoch=True, max_epochs=2, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=4)

default_hooks = dict(logger=dict(type='LoggerHook', interval=1))
env_cfg = dict(mp_cfg=dict(mp_start_method='fork', opencv_num_threads=1))
randomness = dict(seed=0, deterministic=True)
