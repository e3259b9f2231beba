# GALA on Places-LT with the recipe of the cross-entropy baseline
# (../baselines/resnet152_places-lt_ce.py: ResNet-152 initialised from
# ImageNet-1k weights, fine-tuned 30 epochs, 8 GPUs x 32 images, SGD lr 0.01
# (x10 on the classifier), weight decay 5e-4, cosine). The authors state
# neither backbone nor schedule nor lambdas; GALA uses lambda1 = lambda2 = 1.0
# here.
#
# Evaluation reports accuracy without and with transductive re-balancing.
# tau = 1.4 is the authors' Places-LT value; choose it on the validation split
# with `python tools/analysis/select_tau.py CONFIG CKPT`.
_base_ = ['../baselines/resnet152_places-lt_ce.py', '../_base_/gala.py']

# the head's and the evaluator's re-balancing: one dict, tau stated once
rebalance = dict(type='PredictionRebalancing', tau=1.4)
model = dict(head=dict(_base_.gala_head, rebalance=rebalance))
val_evaluator = dict(_base_.gala_evaluator, rebalance=rebalance)
test_evaluator = val_evaluator
