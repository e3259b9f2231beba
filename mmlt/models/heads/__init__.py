from .logits_linear_head import LogitsLinearClsHead

__all__ = ['LogitsLinearClsHead']
