# LORT stage 1 on iNaturalist 2018: ResNet-50 trained with plain
# cross-entropy on MMPretrain's ImageNet recipe (SGD lr 0.1, momentum 0.9,
# weight decay 1e-4, batch 256 = 8 GPUs x 32, 100 epochs, cosine; random
# resized crop + flip). LORT does not publish its iNaturalist stage-1
# setting. The val split is the test set; there is no other validation split.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    '../_base_/datasets/inaturalist2018.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_coslr.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

model = dict(head=dict(type='LogitsLinearClsHead', num_classes=8142))

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
