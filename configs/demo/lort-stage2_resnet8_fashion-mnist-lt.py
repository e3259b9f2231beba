# Demo, stage 2 of LORT: re-train only the linear head of the cross-entropy
# model (ce_resnet8_fashion-mnist-lt.py, passed as `load_from`) on frozen
# features with the label over-smoothing loss, instance-balanced sampling.
_base_ = ['./ce_resnet8_fashion-mnist-lt.py']

model = dict(
    type='FrozenFeatureClassifier',
    norm_eval=True,
    head=dict(loss=dict(_delete_=True, type='LORTLoss', eps=0.9)))
custom_hooks = [
    dict(
        type='ClassifierRetrainingHook',
        stage1_config='configs/demo/ce_resnet8_fashion-mnist-lt.py')
]
load_from = None  # the stage-1 checkpoint

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.))
param_scheduler = dict(
    _delete_=True,
    type='CosineAnnealingLR',
    by_epoch=True,
    begin=0,
    end=10,
    convert_to_iter_based=True)
train_cfg = dict(max_epochs=10, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=10))
