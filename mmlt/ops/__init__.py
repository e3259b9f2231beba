from .fused_cross_entropy import (BACKENDS, adjusted_cross_entropy,
                                  check_backend, resolve_backend,
                                  triton_available)

__all__ = [
    'BACKENDS', 'adjusted_cross_entropy', 'check_backend', 'resolve_backend',
    'triton_available'
]
