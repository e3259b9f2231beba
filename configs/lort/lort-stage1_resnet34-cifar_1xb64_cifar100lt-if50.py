# LORT stage 1 on CIFAR-100-LT (IF 50); see the IF 100 config.
_base_ = ['./lort-stage1_resnet34-cifar_1xb64_cifar100lt-if100.py']

train_dataloader = dict(dataset=dict(imbalance_factor=50))
val_dataloader = dict(dataset=dict(imbalance_factor=50))
test_dataloader = val_dataloader
