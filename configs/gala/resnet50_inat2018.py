# GALA on iNaturalist 2018: ResNet-50 from scratch on MMPretrain's ImageNet
# recipe (SGD lr 0.1, momentum 0.9, weight decay 1e-4, batch 256 = 8 GPUs x
# 32, 100 epochs, cosine; random resized crop + flip). The authors state
# neither backbone nor schedule; GALA uses lambda1 = lambda2 = 1.0 here.
#
# The iNaturalist 2018 val split is the test set of the long-tail protocol and
# there is no validation split, so tau keeps the authors' value 1.5 (it cannot
# be chosen with tools/analysis/select_tau.py, which refuses the test split).
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_coslr.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

tau = 1.5

model = dict(
    head=dict(
        type='RebalancedLinearClsHead',
        num_classes=8142,
        tau=tau,
        loss=dict(
            _delete_=True,
            type='GALALoss',
            num_classes=8142,
            lambda1=1.0,
            lambda2=1.0)))
data_preprocessor = dict(num_classes=8142)

data_root = 'data/inaturalist2018'
train_dataloader = dict(
    dataset=dict(type='INaturalist2018', data_root=data_root, split='train'))
val_dataloader = dict(
    dataset=dict(type='INaturalist2018', data_root=data_root, split='val'))
test_dataloader = val_dataloader
val_evaluator = dict(type='RebalancedAccuracy', topk=(1, 5), tau=tau)
test_evaluator = val_evaluator

custom_hooks = [dict(type='AccumulatedGradientHook', interval=100)]
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2))
