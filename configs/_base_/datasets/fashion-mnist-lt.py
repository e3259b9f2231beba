# Fashion-MNIST-LT: MMPretrain's FashionMNIST (1-channel 28x28, files in
# data/fashion-mnist, see docs/dataset_prepare.md) made long-tailed by
# LongTailDataset: exponential profile, n_max 500, IF 100 (1,236 images,
# 500 down to 5 per class).
# - train: the long-tailed subset of the first 50,000 training images;
# - val: the last 10,000 training images (955 to 1,050 per class, disjoint
#   from train), for choosing hyper-parameters;
# - test: the balanced 10,000-image test set.
# Val and test are wrapped with subsample=False and the training profile so
# that they report the training counts (shot groups) to the metric.
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

dataset_type = 'FashionMNIST'
data_root = 'data/fashion-mnist'
long_tail = dict(type='LongTailDataset', imbalance_factor=100, n_max=500)

data_preprocessor = dict(
    num_classes=10,
    # Fashion-MNIST training mean and std of the pixel values
    mean=[72.94],
    std=[90.02],
    to_rgb=False)

pipeline = [dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    dataset=dict(
        **long_tail,
        pipeline=pipeline,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            split='train',
            indices=50000,
            download=False)),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=256,
    num_workers=2,
    dataset=dict(
        **long_tail,
        subsample=False,
        pipeline=pipeline,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            split='train',
            indices=-10000,
            download=False)),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = dict(
    batch_size=256,
    num_workers=2,
    dataset=dict(
        **long_tail,
        subsample=False,
        pipeline=pipeline,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            split='test',
            test_mode=True,
            download=False)),
    sampler=dict(type='DefaultSampler', shuffle=False))

val_evaluator = dict(type='LongTailAccuracy', topk=(1, ))
test_evaluator = val_evaluator
