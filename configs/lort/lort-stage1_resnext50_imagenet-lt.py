# LORT stage 1 on ImageNet-LT: ResNeXt-50 (32x4d) trained with plain
# cross-entropy on MMPretrain's ImageNet recipe (SGD lr 0.1, momentum 0.9,
# weight decay 1e-4, batch 256 = 8 GPUs x 32, 100 epochs, cosine; random
# resized crop + flip). LORT does not publish its ImageNet-LT stage-1 setting.
_base_ = [
    'mmpretrain::_base_/models/resnext50_32x4d.py',
    '../_base_/datasets/imagenet-lt.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_coslr.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

model = dict(head=dict(type='LogitsLinearClsHead'))

train_dataloader = dict(batch_size=32)
val_evaluator = [
    dict(type='LongTailAccuracy', topk=(1, 5)),
    dict(type='LogitsStatistics'),
]
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2))

# Horizontal-flip test-time augmentation (tools/test.py --tta).
tta_model = dict(type='AverageClsLogitsTTA')
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short'),
    dict(type='CenterCrop', crop_size=224),
    dict(
        type='TestTimeAug',
        transforms=[[
            dict(type='RandomFlip', prob=1.),
            dict(type='RandomFlip', prob=0.)
        ], [dict(type='PackInputs')]])
]
