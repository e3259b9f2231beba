# GALA (gradient-aware logit adjustment): the head, evaluator, TTA and
# statistics hook shared by configs/gala/*.py. A config lists this fragment
# after its model's base and states tau once, for the head and the evaluator:
#   _base_ = ['<model / baseline config>', '../_base_/gala.py']
#   rebalance = dict(type='PredictionRebalancing', tau=...)
#   model = dict(head=dict(_base_.gala_head, rebalance=rebalance))
#   val_evaluator = dict(_base_.gala_evaluator, rebalance=rebalance)
#   test_evaluator = val_evaluator
# The head and the evaluator are given as `gala_head` / `gala_evaluator`, not
# as `model` / `val_evaluator`: mmengine refuses a key defined in two bases of
# one `_base_` list, and the model's base defines those. GALALoss takes
# num_classes from the head (RebalancedLinearClsHead fills it in).
gala_head = dict(
    type='RebalancedLinearClsHead',
    loss=dict(_delete_=True, type='GALALoss', lambda1=1.0, lambda2=1.0))
# accuracy without (`long-tail/...`) and with (`long-tail/rebalanced/...`)
# transductive prediction re-balancing
gala_evaluator = dict(type='RebalancedAccuracy', topk=(1, 5))
# tools/test.py --tta: RebalancedAccuracy scores `pred_logits`, so the views'
# logits are averaged too (MMPretrain's AverageClsScoreTTA keeps view 0's).
tta_model = dict(type='AverageClsLogitsTTA')
custom_hooks = [dict(type='AccumulatedGradientHook', interval=100)]
