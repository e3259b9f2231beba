# LORT stage 2 on CIFAR-100-LT (imbalance ratio 50), eps 0.98; see the
# ratio-100 config.
_base_ = ['./lort-stage2_resnet34_cifar100-lt-ir100.py']

train_dataloader = dict(dataset=dict(imbalance_factor=50))
val_dataloader = dict(dataset=dict(imbalance_factor=50))
test_dataloader = val_dataloader
custom_hooks = [
    dict(
        type='ClassifierRetrainingHook',
        reinit_head=False,
        stage1_config='configs/lort/lort-stage1_resnet34_cifar100-lt-ir50.py')
]
