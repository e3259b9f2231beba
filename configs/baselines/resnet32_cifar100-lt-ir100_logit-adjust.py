# Logit-adjusted loss (Menon et al., ICLR 2021; tau 1) on CIFAR-100-LT,
# imbalance ratio 100, with the CE baseline's ResNet-32 and schedule. The
# loss reads the training class counts through ClassCountsHook; prediction
# uses the raw logits.
_base_ = ['./resnet32_cifar100-lt-ir100_ce.py']

model = dict(
    head=dict(loss=dict(_delete_=True, type='LogitAdjustLoss', tau=1.0)))
custom_hooks = [dict(type='ClassCountsHook')]
