# Demo: GALA (gradient-aware logit adjustment, lambda1 = lambda2 = 1) with the
# schedule of the cross-entropy baseline. The evaluator also reports
# prediction re-balancing (tau chosen on the validation split).
_base_ = ['./ce_smallconvnet_fashion-mnist-lt.py']

model = dict(
    head=dict(
        type='RebalancedLinearClsHead',
        rebalance={{_base_.rebalance}},
        loss=dict(
            _delete_=True,
            type='GALALoss',
            num_classes=10,
            lambda1=1.0,
            lambda2=1.0)))
custom_hooks = [dict(type='AccumulatedGradientHook', interval=10)]
