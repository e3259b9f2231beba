# iNaturalist 2018: 8,142 classes; train 437,513 images; the 24,426-image
# val split is the test set of the long-tail literature, and there is no
# other validation split: val_dataloader monitors training on it only.
# MMPretrain's ImageNet pipelines, 64 images per GPU.
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64.py']
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

data_preprocessor = dict(num_classes=8142)

train_dataloader = dict(
    dataset=dict(
        type='INaturalist2018',
        data_root='data/inaturalist2018',
        split='train'))
val_dataloader = dict(
    dataset=dict(
        type='INaturalist2018', data_root='data/inaturalist2018', split='val'))
test_dataloader = val_dataloader

val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator
