# Demo: GALA (gradient-aware logit adjustment, lambda1 = lambda2 = 1) with the
# schedule of the cross-entropy baseline. The evaluator also reports
# prediction re-balancing (tau chosen on the validation split).
# It does not inherit ../_base_/gala.py: mmengine refuses a key defined in
# two bases of one `_base_` list, and the CE base already defines tta_model;
# its evaluator and TTA are the CE base's. GALALoss takes num_classes from
# the head.
_base_ = ['./ce_smallconvnet_fashion-mnist-lt.py']

model = dict(
    head=dict(
        type='RebalancedLinearClsHead',
        rebalance={{_base_.rebalance}},
        loss=dict(_delete_=True, type='GALALoss', lambda1=1.0, lambda2=1.0)))
custom_hooks = [dict(type='AccumulatedGradientHook', interval=10)]
