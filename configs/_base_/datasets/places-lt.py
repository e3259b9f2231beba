# Places-LT: 365 classes; train 62,500 images, val 7,300 (for choosing
# hyper-parameters), test 36,500. MMPretrain's ImageNet pipelines, 64 images
# per GPU.
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64.py']
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

data_preprocessor = dict(num_classes=365)

train_dataloader = dict(
    dataset=dict(type='PlacesLT', data_root='data/places365', split='train'))
val_dataloader = dict(
    dataset=dict(type='PlacesLT', data_root='data/places365', split='val'))
test_dataloader = dict(
    dataset=dict(type='PlacesLT', data_root='data/places365', split='test'))

val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator
