from .compat import (TRUST_ENV_VAR, UntrustedCheckpointError,
                     checkpoints_trusted)

__all__ = ['TRUST_ENV_VAR', 'UntrustedCheckpointError', 'checkpoints_trusted']
