# ImageNet-LT: 1,000 classes; train 115,846 images, val 20,000 (for choosing
# hyper-parameters), test 50,000. MMPretrain's ImageNet pipelines, 64 images
# per GPU.
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64.py']
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

train_dataloader = dict(
    dataset=dict(type='ImageNetLT', data_root='data/imagenet', split='train'))
val_dataloader = dict(
    dataset=dict(type='ImageNetLT', data_root='data/imagenet', split='val'))
test_dataloader = dict(
    dataset=dict(type='ImageNetLT', data_root='data/imagenet', split='test'))

val_evaluator = dict(type='LongTailAccuracy', topk=(1, 5))
test_evaluator = val_evaluator
