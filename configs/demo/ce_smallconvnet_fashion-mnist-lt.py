# Demo, baseline and LORT stage 1: plain cross-entropy on Fashion-MNIST-LT
# (IF 100, at most 500 images per class), a 3-conv CNN, batch 64, 30 epochs of
# SGD with a one-cycle learning rate (peak 0.05), on the CPU.
_base_ = [
    '../_base_/datasets/fashion-mnist-lt.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='SmallConvNet', in_channels=1, channels=(32, 64, 128)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LogitsLinearClsHead',  # predictions keep the raw logits
        num_classes=10,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))

# The images are tiny and in memory: load them in the main process.
train_dataloader = dict(num_workers=0)
val_dataloader = dict(num_workers=0)
test_dataloader = dict(num_workers=0)

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(
    type='OneCycleLR',
    eta_max=0.05,
    by_epoch=True,
    begin=0,
    end=30,
    convert_to_iter_based=True)
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=30)
val_cfg = dict()
test_cfg = dict()

# Accuracy without and with transductive prediction re-balancing in one pass;
# choose tau on the validation split (tools/analysis/select_tau.py).
rebalance = dict(type='PredictionRebalancing', tau=1.0)
val_evaluator = dict(type='RebalancedAccuracy', rebalance=rebalance)
test_evaluator = val_evaluator
# tools/test.py --tta: RebalancedAccuracy scores `pred_logits`, so the views'
# logits are averaged too (MMPretrain's AverageClsScoreTTA keeps view 0's).
tta_model = dict(type='AverageClsLogitsTTA')

# Checkpoints keep the OneCycleLR state (mmlt's weights-only loading allows
# its annealing function), so `tools/train.py --resume` continues the
# schedule where it stopped.
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=30, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=False)
