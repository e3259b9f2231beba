# GALA on iNaturalist 2018 with the recipe of the cross-entropy baseline
# (../baselines/resnet50_inat2018_ce.py: ResNet-50 from scratch, 8 GPUs x 64
# images, SGD lr 0.2, weight decay 5e-4, cosine over 90 epochs). The authors
# state neither backbone nor schedule nor lambdas; GALA uses
# lambda1 = lambda2 = 1.0 here.
#
# Evaluation reports accuracy without and with transductive re-balancing.
# The iNaturalist 2018 val split is the test set of the long-tail protocol and
# there is no validation split, so tau keeps the authors' value 1.5
# (tools/analysis/select_tau.py refuses to choose it on the test split).
_base_ = ['../baselines/resnet50_inat2018_ce.py', '../_base_/gala.py']

# the head's and the evaluator's re-balancing: one dict, tau stated once
rebalance = dict(type='PredictionRebalancing', tau=1.5)
model = dict(head=dict(_base_.gala_head, rebalance=rebalance))
val_evaluator = dict(_base_.gala_evaluator, rebalance=rebalance)
test_evaluator = val_evaluator
