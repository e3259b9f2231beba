# LORT stage 2 on CIFAR-100-LT (imbalance ratio 100): freeze the stage-1
# backbone and neck and re-train only the classifier with the LORT loss (eps
# 0.98), the paper's recipe (../_base_/lort_stage2.py: SGD lr 5e-4, momentum
# 0.9, no weight decay, 20 epochs, cosine). Needs the stage-1 checkpoint:
# `--cfg-options load_from=...` (see configs/lort/README.md).
_base_ = [
    './lort-stage1_resnet34_cifar100-lt-ir100.py', '../_base_/lort_stage2.py'
]

model = dict(
    _base_.lort_stage2.model,
    head=dict(loss=dict(_delete_=True, type='LORTLoss', eps=0.98)))

load_from = None  # the stage-1 checkpoint; ClassifierRetrainingHook checks it
custom_hooks = [
    dict(
        type='ClassifierRetrainingHook',
        reinit_head=False,
        stage1_config='configs/lort/lort-stage1_resnet34_cifar100-lt-ir100.py')
]

optim_wrapper = _base_.lort_stage2.optim_wrapper
param_scheduler = _base_.lort_stage2.param_scheduler
train_cfg = _base_.lort_stage2.train_cfg
default_hooks = _base_.lort_stage2.default_hooks
