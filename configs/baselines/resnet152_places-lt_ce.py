# Cross-entropy baseline on Places-LT: ResNet-152 initialised from
# MMPretrain's ImageNet-1k weights (the usual Places-LT protocol), fine-tuned
# with SGD lr 0.01 (x10 on the new classifier), weight decay 5e-4, cosine
# schedule over 30 epochs, 8 GPUs x 32 images.
_base_ = [
    'mmpretrain::_base_/models/resnet152.py',
    '../_base_/datasets/places-lt.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_coslr.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet152_8xb32_in1k_20210901-4d7582fa.pth',
            prefix='backbone')),
    head=dict(num_classes=365))

train_dataloader = dict(batch_size=32)
val_dataloader = dict(batch_size=32)
test_dataloader = dict(batch_size=32)

optim_wrapper = dict(
    optimizer=dict(lr=0.01, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.)}))
param_scheduler = dict(T_max=30, end=30)
train_cfg = dict(max_epochs=30)
