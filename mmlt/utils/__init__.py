from .compat import (TRUST_ENV_VAR, UntrustedCheckpointError,
                     checkpoints_trusted)
from .launcher import (LAUNCHERS, add_launcher_args, apply_checkpoint_trust,
                       build_runner, default_work_dir,
                       destroy_process_group_on_exit, load_checkpoint_config,
                       load_checkpoints_strictly,
                       merge_cfg_options, parse_launcher_args, prepare_launch,
                       set_checkpoint, set_launcher_and_work_dir, set_resume,
                       setup_cpu_distributed)

__all__ = [
    'TRUST_ENV_VAR', 'UntrustedCheckpointError', 'checkpoints_trusted',
    'apply_checkpoint_trust', 'setup_cpu_distributed', 'LAUNCHERS',
    'add_launcher_args', 'parse_launcher_args', 'default_work_dir',
    'set_launcher_and_work_dir', 'set_checkpoint', 'merge_cfg_options',
    'load_checkpoint_config', 'prepare_launch', 'build_runner',
    'destroy_process_group_on_exit', 'set_resume',
    'load_checkpoints_strictly'
]
