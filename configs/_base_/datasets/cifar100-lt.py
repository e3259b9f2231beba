# CIFAR-100-LT (LDAM-DRW protocol): exponential profile, n_max 500, IF 100;
# balanced 10,000-image test split. For IF 200 / 50 / 10 override
# `imbalance_factor` in all three dataloaders: the test split needs the same
# IF to report the training counts (shot groups) of the metric.
# CIFAR-LT has no validation split: val_dataloader evaluates the test split
# to monitor training only; select hyper-parameters elsewhere.
_base_ = ['mmpretrain::_base_/datasets/cifar100_bs16.py']
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

train_dataloader = dict(
    batch_size=128, dataset=dict(type='CIFAR100LT', imbalance_factor=100))
val_dataloader = dict(
    batch_size=128, dataset=dict(type='CIFAR100LT', imbalance_factor=100))
test_dataloader = val_dataloader

val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator
