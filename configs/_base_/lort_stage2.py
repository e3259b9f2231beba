# LORT stage 2: re-train only the classifier of the frozen stage-1 model with
# the label over-smoothing loss; the paper's CIFAR recipe: SGD lr 5e-4 at
# batch 64, momentum 0.9, no weight decay, 20 epochs, cosine. norm_eval=True
# keeps the BN running statistics at their stage-1 values (False reproduces
# the official code, where they drift during stage 2). configs/lort/
# lort-stage2_*.py list it after their stage-1 config and take its parts:
#   _base_ = ['./lort-stage1_X.py', '../_base_/lort_stage2.py']
#   model = dict(_base_.lort_stage2.model, head=dict(loss=dict(
#       _delete_=True, type='LORTLoss', eps=...)))
#   optim_wrapper = _base_.lort_stage2.optim_wrapper
#   param_scheduler = _base_.lort_stage2.param_scheduler
#   train_cfg = _base_.lort_stage2.train_cfg
#   default_hooks = _base_.lort_stage2.default_hooks
# The recipe is one named dict, not top-level keys, because mmengine refuses
# a key defined in two bases of one `_base_` list and the stage-1 config
# defines every one of them (and `load_from`, and the stage-1 path of
# ClassifierRetrainingHook differs per config, so those stay in the configs).
lort_stage2 = dict(
    model=dict(type='FrozenFeatureClassifier', norm_eval=True),
    optim_wrapper=dict(
        optimizer=dict(type='SGD', lr=5e-4, momentum=0.9, weight_decay=0.)),
    param_scheduler=dict(
        _delete_=True,
        type='CosineAnnealingLR',
        T_max=20,
        by_epoch=True,
        begin=0,
        end=20),
    train_cfg=dict(by_epoch=True, max_epochs=20, val_interval=5),
    default_hooks=dict(checkpoint=dict(interval=5, max_keep_ckpts=2)))
