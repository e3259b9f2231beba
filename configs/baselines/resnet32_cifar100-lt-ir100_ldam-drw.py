# LDAM-DRW (Cao et al., NeurIPS 2019) on CIFAR-100-LT, imbalance ratio 100,
# with the CE baseline's ResNet-32 and schedule (which is the paper's: batch
# 128, lr 0.1, 5 warm-up epochs, x0.01 at 160 and 180, 200 epochs, weight
# decay 2e-4). Cosine classifier (the code's NormedLinear), margins
# 0.5 * (n_min / n_j) ** (1/4), scale 30, deferred re-weighting with
# effective-number weights (beta 0.9999) from epoch 160.
_base_ = ['./resnet32_cifar100-lt-ir100_ce.py']

model = dict(
    head=dict(
        _delete_=True,
        type='NormedLinearClsHead',
        num_classes=100,
        in_channels=64,
        scale=30.0,  # prediction logits: the loss's scale
        loss=dict(
            type='LDAMLoss',
            max_margin=0.5,
            scale=30.0,
            drw_start_epoch=160,
            drw_beta=0.9999)))
custom_hooks = [dict(type='ClassCountsHook'), dict(type='LossEpochHook')]
