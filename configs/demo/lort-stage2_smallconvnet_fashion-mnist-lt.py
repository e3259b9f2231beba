# Demo, LORT stage 2: re-train only the linear head of the cross-entropy model
# (ce_smallconvnet_fashion-mnist-lt.py; pass its checkpoint as `load_from`) on
# its frozen features with the label over-smoothing loss; instance-balanced
# sampling and the paper's schedule: SGD lr 5e-4, momentum 0.9, no weight
# decay, 20 epochs, cosine. eps depends on the number of classes (the paper's
# 0.98 is for 100); demo/run_demo.py chooses it on the validation split.
_base_ = ['./ce_smallconvnet_fashion-mnist-lt.py']

model = dict(
    type='FrozenFeatureClassifier',
    norm_eval=True,  # the features stay exactly the stage-1 test features
    head=dict(loss=dict(_delete_=True, type='LORTLoss', eps=0.7)))
load_from = None  # the stage-1 checkpoint; ClassifierRetrainingHook checks it
custom_hooks = [
    dict(
        type='ClassifierRetrainingHook',
        stage1_config='configs/demo/ce_smallconvnet_fashion-mnist-lt.py')
]

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=5e-4, momentum=0.9, weight_decay=0.))
param_scheduler = dict(
    _delete_=True,
    type='CosineAnnealingLR',
    by_epoch=True,
    begin=0,
    end=20,
    convert_to_iter_based=True)
train_cfg = dict(max_epochs=20, val_interval=20)
default_hooks = dict(checkpoint=dict(interval=20))
