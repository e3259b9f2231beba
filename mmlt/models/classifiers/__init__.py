from .frozen_feature_classifier import FrozenFeatureClassifier

__all__ = ['FrozenFeatureClassifier']
