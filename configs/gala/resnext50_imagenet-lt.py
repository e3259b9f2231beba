# GALA on ImageNet-LT with the recipe of the cross-entropy baseline
# (../baselines/resnext50_imagenet-lt_ce.py: ResNeXt-50 32x4d from scratch,
# 8 GPUs x 64 images, SGD lr 0.2, weight decay 5e-4, cosine over 90 epochs):
#   tools/dist_train.sh configs/gala/resnext50_imagenet-lt.py 8
# The authors state neither backbone nor schedule nor lambdas for ImageNet-LT;
# GALA uses lambda1 = lambda2 = 1.0 here.
#
# Evaluation reports accuracy without and with transductive re-balancing.
# tau = 1.7 is the authors' ImageNet-LT value; choose it on the validation
# split with `python tools/analysis/select_tau.py CONFIG CKPT`. For
# deployable re-balancing store column masses estimated on the validation
# split: `tools/analysis/estimate_column_mass.py CONFIG CKPT --split val
# --out CKPT2`.
_base_ = ['../baselines/resnext50_imagenet-lt_ce.py', '../_base_/gala.py']

# the head's and the evaluator's re-balancing: one dict, tau stated once
rebalance = dict(type='PredictionRebalancing', tau=1.7)
model = dict(head=dict(_base_.gala_head, rebalance=rebalance))
val_evaluator = dict(_base_.gala_evaluator, rebalance=rebalance)
test_evaluator = val_evaluator
