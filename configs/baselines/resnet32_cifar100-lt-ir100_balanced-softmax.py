# Balanced Softmax (Ren et al., NeurIPS 2020) on CIFAR-100-LT, imbalance
# ratio 100, with the CE baseline's ResNet-32 and schedule. The loss reads
# the training class counts through ClassCountsHook; prediction uses the
# plain softmax.
_base_ = ['./resnet32_cifar100-lt-ir100_ce.py']

model = dict(
    head=dict(loss=dict(_delete_=True, type='BalancedSoftmaxLoss')))
custom_hooks = [dict(type='ClassCountsHook')]
