# LORT stage 1 on CIFAR-100-LT (imbalance ratio 100): learn the
# representation with plain cross-entropy and strong weight decay (the
# paper's CIFAR recipe: ResNet-34 CIFAR variant, SGD lr 0.01, momentum 0.9,
# weight decay 5e-3, batch 64, 200 epochs, cosine; random crop + flip).
# Stage 2 re-trains the classifier: lort-stage2_resnet34_cifar100-lt-ir100.py.
_base_ = [
    'mmpretrain::_base_/models/resnet34_cifar.py',
    '../_base_/datasets/cifar100-lt.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

# LogitsLinearClsHead also passes the raw logits to LogitsStatistics.
model = dict(head=dict(type='LogitsLinearClsHead', num_classes=100))

train_dataloader = dict(batch_size=64)
val_evaluator = [
    dict(type='LongTailAccuracy', topk=(1, 5)),
    dict(type='LogitsStatistics'),
]
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-3))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=200, by_epoch=True, begin=0, end=200)
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2))

# Horizontal-flip test-time augmentation (tools/test.py --tta), as in the
# paper's evaluation; logits and scores are averaged over the two views.
tta_model = dict(type='AverageClsLogitsTTA')
tta_pipeline = [
    dict(
        type='TestTimeAug',
        transforms=[[
            dict(type='RandomFlip', prob=1.),
            dict(type='RandomFlip', prob=0.)
        ], [dict(type='PackInputs')]])
]
