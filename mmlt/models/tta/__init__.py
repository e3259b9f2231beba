from .logits_tta import AverageClsLogitsTTA

__all__ = ['AverageClsLogitsTTA']
