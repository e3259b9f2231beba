"""The ``mmlt`` scope: ``mmlt::`` config paths and child registries.

mmlt's modules register in MMPretrain's registries (scope ``mmpretrain``), so
that MMPretrain configs and tools find them by name. This module adds what
mmengine needs for a config that inherits from an installed mmlt config,
``_base_ = ['mmlt::gala/resnet32_cifar100-lt-ir100.py']``:

- ``mmlt`` in mmengine's ``MODULE2PACKAGE``, the table of packages whose
  configs ``package::path`` may name (it is read when the config is parsed,
  so ``mmlt`` must be imported before: mmlt's tools and ``mim train mmlt`` do
  that). The file is looked up in ``mmlt/.mim/configs`` (see ``setup.py``).
- A registry of scope ``mmlt`` under each MMPretrain registry: mmengine gives
  every dict of such a base config ``_scope_='mmlt'`` and builds it from the
  ``mmlt`` child registry, which holds no modules of its own and resolves
  every name through its parent (MMPretrain's registry, then mmengine's).
"""
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry

SCOPE = 'mmlt'
MODULE2PACKAGE.setdefault(SCOPE, 'mmlt')

def _child(name: str) -> Registry:
    """The ``mmlt`` child of MMPretrain's registry ``name``; importing
    :mod:`mmlt` registers the modules that it resolves."""
    parent = getattr(mmpretrain_registry, name)
    return Registry(
        parent.name, parent=parent, scope=SCOPE, locations=['mmlt'])


RUNNERS = _child('RUNNERS')
RUNNER_CONSTRUCTORS = _child('RUNNER_CONSTRUCTORS')
LOOPS = _child('LOOPS')
HOOKS = _child('HOOKS')
LOG_PROCESSORS = _child('LOG_PROCESSORS')
OPTIMIZERS = _child('OPTIMIZERS')
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS')
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS')
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS')
DATASETS = _child('DATASETS')
DATA_SAMPLERS = _child('DATA_SAMPLERS')
TRANSFORMS = _child('TRANSFORMS')
MODELS = _child('MODELS')
MODEL_WRAPPERS = _child('MODEL_WRAPPERS')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS')
BATCH_AUGMENTS = _child('BATCH_AUGMENTS')
TASK_UTILS = _child('TASK_UTILS')
METRICS = _child('METRICS')
EVALUATORS = _child('EVALUATORS')
VISUALIZERS = _child('VISUALIZERS')
VISBACKENDS = _child('VISBACKENDS')

# mmlt's own registry (a root, not a child of MMPretrain's): the post-hoc
# re-balancings of plain logits (mmlt/evaluation/rebalancers.py), built from
# ``rebalance=dict(type=..., tau=...)`` by the head and the metric.
REBALANCERS = Registry(
    'rebalancer', scope=SCOPE, locations=['mmlt.evaluation.rebalancers'])
