# Cross-entropy baseline on CIFAR-100-LT, imbalance ratio 100: CIFAR
# ResNet-32, batch 128, SGD lr 0.1 (5-epoch linear warm-up), weight decay
# 2e-4, lr x0.01 at epochs 160 and 180, 200 epochs (the LDAM-DRW CE setting).
_base_ = [
    'mmpretrain::_base_/models/resnet34_cifar.py',
    '../_base_/datasets/cifar100-lt.py',
    'mmpretrain::_base_/schedules/cifar10_bs128.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

model = dict(
    backbone=dict(_delete_=True, type='CifarResNet', depth=32),
    head=dict(num_classes=100, in_channels=64))

optim_wrapper = dict(optimizer=dict(weight_decay=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.2, by_epoch=True, begin=0, end=5),
    dict(type='MultiStepLR', by_epoch=True, milestones=[160, 180], gamma=0.01)
]
