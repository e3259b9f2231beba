# Cross-entropy baseline on iNaturalist 2018: ResNet-50 from scratch,
# 8 GPUs x 64 images, SGD lr 0.2, weight decay 5e-4, cosine schedule over
# 90 epochs.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    '../_base_/datasets/inaturalist2018.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_coslr.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

model = dict(head=dict(num_classes=8142))

optim_wrapper = dict(optimizer=dict(lr=0.2, weight_decay=5e-4))
param_scheduler = dict(T_max=90, end=90)
train_cfg = dict(max_epochs=90)
auto_scale_lr = dict(base_batch_size=512)
