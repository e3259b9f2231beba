from .compat import (TRUST_ENV_VAR, UntrustedCheckpointError,
                     checkpoints_trusted)
from .launcher import apply_checkpoint_trust, setup_cpu_distributed

__all__ = [
    'TRUST_ENV_VAR', 'UntrustedCheckpointError', 'checkpoints_trusted',
    'apply_checkpoint_trust', 'setup_cpu_distributed'
]
