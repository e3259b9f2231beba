# GALA on Places-LT: ResNet-152 initialised from MMPretrain's ImageNet-1k
# weights (the OLTR protocol) and fine-tuned for 30 epochs (SGD lr 0.01,
# momentum 0.9, weight decay 1e-4, batch 256 = 8 GPUs x 32, cosine; random
# resized crop + flip). The authors state neither backbone nor schedule;
# GALA uses lambda1 = lambda2 = 1.0 here.
#
# Re-balancing: tau = 1.4 is the authors' Places-LT value; choose it on the
# validation split instead with
#   python tools/analysis/select_tau.py CONFIG CKPT
_base_ = [
    'mmpretrain::_base_/models/resnet152.py',
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_coslr.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmlt'], allow_failed_imports=False)

tau = 1.4

model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmclassification/v0/'
            'resnet/resnet152_8xb32_in1k_20210901-4d7582fa.pth',
            prefix='backbone')),
    head=dict(
        type='RebalancedLinearClsHead',
        num_classes=365,
        tau=tau,
        loss=dict(
            _delete_=True,
            type='GALALoss',
            num_classes=365,
            lambda1=1.0,
            lambda2=1.0)))
data_preprocessor = dict(num_classes=365)

data_root = 'data/places365'
train_dataloader = dict(
    dataset=dict(type='PlacesLT', data_root=data_root, split='train'))
val_dataloader = dict(
    dataset=dict(type='PlacesLT', data_root=data_root, split='val'))
test_dataloader = dict(
    dataset=dict(type='PlacesLT', data_root=data_root, split='test'))
val_evaluator = dict(type='RebalancedAccuracy', topk=(1, 5), tau=tau)
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = dict(T_max=30, end=30)
train_cfg = dict(max_epochs=30, val_interval=5)

custom_hooks = [dict(type='AccumulatedGradientHook', interval=100)]
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=2))
