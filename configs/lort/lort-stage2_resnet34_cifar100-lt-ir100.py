# LORT stage 2 on CIFAR-100-LT (imbalance ratio 100): freeze the stage-1
# backbone and neck and re-train only the classifier with the LORT loss (eps
# 0.98); SGD lr 5e-4, momentum 0.9, no weight decay, 20 epochs, cosine.
# Needs the stage-1 checkpoint: `--cfg-options load_from=...` (see
# configs/lort/README.md).
_base_ = ['./lort-stage1_resnet34_cifar100-lt-ir100.py']

model = dict(
    type='FrozenFeatureClassifier',
    # True: BN running statistics stay at their stage-1 values. False
    # reproduces the official code, where they drift during stage 2.
    norm_eval=True,
    head=dict(loss=dict(_delete_=True, type='LORTLoss', eps=0.98)))

load_from = None  # the stage-1 checkpoint; ClassifierRetrainingHook checks it
custom_hooks = [
    dict(
        type='ClassifierRetrainingHook',
        reinit_head=False,
        stage1_config='configs/lort/lort-stage1_resnet34_cifar100-lt-ir100.py')
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=5e-4, momentum=0.9, weight_decay=0.))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=20, by_epoch=True, begin=0, end=20)
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=5)
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=2))
