# GALA on CIFAR-100-LT, imbalance factor 50: the IF 100 recipe
# (resnet32_cifar100-lt-ir100.py). The authors publish lambda1 = 1.2,
# lambda2 = 0.9 for IF 100 only; the same values are used here.
_base_ = ['./resnet32_cifar100-lt-ir100.py']

imbalance_factor = 50
train_dataloader = dict(dataset=dict(imbalance_factor=imbalance_factor))
val_dataloader = dict(dataset=dict(imbalance_factor=imbalance_factor))
test_dataloader = val_dataloader
