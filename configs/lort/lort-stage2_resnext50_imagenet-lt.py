# LORT stage 2 on ImageNet-LT: re-train only the classifier of the frozen
# stage-1 model with the LORT loss. The recipe of the paper's CIFAR stage 2
# (../_base_/lort_stage2.py: momentum 0.9, no weight decay, 20 epochs,
# cosine), its lr 5e-4 at batch 64 scaled linearly to batch 256. Needs the
# stage-1 checkpoint:
# `--cfg-options load_from=...` (see configs/lort/README.md).
_base_ = ['./lort-stage1_resnext50_imagenet-lt.py', '../_base_/lort_stage2.py']

# eps is not published for ImageNet-LT. 0.998 keeps the true-to-other target
# ratio of CIFAR-100's eps 0.98 (r = 3.04; eps = K / (K + r - 1), K = 1000).
# It is a starting point, not a tuned value: choose eps on the val split
# with tools/analysis/sweep_eps.py (configs/lort/README.md).
model = dict(
    _base_.lort_stage2.model,
    head=dict(loss=dict(_delete_=True, type='LORTLoss', eps=0.998)))

load_from = None  # the stage-1 checkpoint; ClassifierRetrainingHook checks it
custom_hooks = [
    dict(
        type='ClassifierRetrainingHook',
        reinit_head=False,
        stage1_config='configs/lort/lort-stage1_resnext50_imagenet-lt.py')
]

# the paper's lr 5e-4 at batch 64, scaled linearly to batch 256
optim_wrapper = dict(
    optimizer=dict(_base_.lort_stage2.optim_wrapper.optimizer, lr=2e-3))
param_scheduler = _base_.lort_stage2.param_scheduler
train_cfg = _base_.lort_stage2.train_cfg
default_hooks = _base_.lort_stage2.default_hooks
