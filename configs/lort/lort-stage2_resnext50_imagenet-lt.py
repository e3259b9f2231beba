# LORT stage 2 on ImageNet-LT: re-train only the classifier of the frozen
# stage-1 model with the LORT loss. The recipe of the paper's CIFAR stage 2
# (momentum 0.9, no weight decay, 20 epochs, cosine), its lr 5e-4 at batch
# 64 scaled linearly to batch 256. Needs the stage-1 checkpoint:
# `--cfg-options load_from=...` (see configs/lort/README.md).
_base_ = ['./lort-stage1_resnext50_imagenet-lt.py']

# eps is not published for ImageNet-LT. 0.998 keeps the true-to-other target
# ratio of CIFAR-100's eps 0.98 (r = 3.04; eps = K / (K + r - 1), K = 1000).
# It is a starting point, not a tuned value: choose eps on the val split
# with tools/analysis/sweep_eps.py (configs/lort/README.md).
model = dict(
    type='FrozenFeatureClassifier',
    norm_eval=True,  # False: BN statistics drift as in the official code
    head=dict(loss=dict(_delete_=True, type='LORTLoss', eps=0.998)))

load_from = None  # the stage-1 checkpoint; ClassifierRetrainingHook checks it
custom_hooks = [
    dict(
        type='ClassifierRetrainingHook',
        reinit_head=False,
        stage1_config='configs/lort/lort-stage1_resnext50_imagenet-lt.py')
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=2e-3, momentum=0.9, weight_decay=0.))
param_scheduler = dict(
    _delete_=True,
    type='CosineAnnealingLR',
    T_max=20,
    by_epoch=True,
    begin=0,
    end=20)
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=5)
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=2))
