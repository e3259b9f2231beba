# CIFAR-100-LT with a validation split held out from the training images, for
# benchmarks/accuracy.py (--dataset-config), which makes every choice on a
# validation split and refuses to use the test split for it:
# - train: the long-tailed subset (exponential profile, IF 100, seed 0) of
#   the first 45,000 CIFAR-100 training images (about 450 per class), with
#   n_max 400 (the standard CIFAR-100-LT takes all 500 head-class images and
#   leaves none for validation, so these numbers are NOT comparable to the
#   papers'; n_max 400 ... 4 images per class, 30 / 35 / 35 classes many /
#   medium / few);
# - val: the last 5,000 training images (about 50 per class);
# - test: the balanced 10,000-image test split.
# Val and test report the training counts (subsample=False). Override
# `imbalance_factor` in all three dataloaders for other factors
# (benchmarks/accuracy.py --imbalance-factors does).
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

dataset_type = 'CIFAR100'
data_root = 'data/cifar100'
long_tail = dict(type='LongTailDataset', imbalance_factor=100, n_max=400)

data_preprocessor = dict(
    num_classes=100,
    mean=[129.304, 124.070, 112.434],
    std=[68.170, 65.392, 70.418],
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=128,
    num_workers=4,
    dataset=dict(
        **long_tail,
        pipeline=train_pipeline,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            split='train',
            indices=45000,
            download=False)),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=256,
    num_workers=4,
    dataset=dict(
        **long_tail,
        subsample=False,
        pipeline=test_pipeline,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            split='train',
            indices=-5000,
            download=False)),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = dict(
    batch_size=256,
    num_workers=4,
    dataset=dict(
        **long_tail,
        subsample=False,
        pipeline=test_pipeline,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            split='test',
            test_mode=True,
            download=False)),
    sampler=dict(type='DefaultSampler', shuffle=False))

val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator
