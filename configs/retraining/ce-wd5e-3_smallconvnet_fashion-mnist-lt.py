# Stage 1 as LORT recommends it: the demo's cross-entropy model
# (../demo/ce_smallconvnet_fashion-mnist-lt.py) with strong weight decay,
# 5e-3 as in configs/lort/lort-stage1_*.py (instead of 5e-4). The
# representation of the second half of the classifier re-training study
# (tools/analysis/retrain_classifier.py, docs/results.md).
_base_ = ['../demo/ce_smallconvnet_fashion-mnist-lt.py']

optim_wrapper = dict(optimizer=dict(weight_decay=5e-3))
