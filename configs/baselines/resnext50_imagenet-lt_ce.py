# Cross-entropy baseline on ImageNet-LT: ResNeXt-50 (32x4d) from scratch,
# 8 GPUs x 64 images, SGD lr 0.2, weight decay 5e-4, cosine schedule over
# 90 epochs (the joint-training setting of classifier re-balancing work).
_base_ = [
    'mmpretrain::_base_/models/resnext50_32x4d.py',
    '../_base_/datasets/imagenet-lt.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_coslr.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

optim_wrapper = dict(optimizer=dict(lr=0.2, weight_decay=5e-4))
param_scheduler = dict(T_max=90, end=90)
train_cfg = dict(max_epochs=90)
auto_scale_lr = dict(base_batch_size=512)
