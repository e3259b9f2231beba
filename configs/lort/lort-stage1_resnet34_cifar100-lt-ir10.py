# LORT stage 1 on CIFAR-100-LT (imbalance ratio 10); see the ratio-100 config.
_base_ = ['./lort-stage1_resnet34_cifar100-lt-ir100.py']

train_dataloader = dict(dataset=dict(imbalance_factor=10))
val_dataloader = dict(dataset=dict(imbalance_factor=10))
test_dataloader = val_dataloader
