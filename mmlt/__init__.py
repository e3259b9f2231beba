"""mmlt: long-tailed image classification for MMPretrain.

Importing this package registers every mmlt module in MMPretrain's
registries (scope ``mmpretrain``), adds the ``mmlt`` scope for ``mmlt::``
config paths (:mod:`mmlt.registry`) and applies the small compatibility
patches in :mod:`mmlt.utils.compat`.
"""
from .utils import compat  # noqa: F401  (patches first)
from . import datasets, engine, evaluation, models, registry  # noqa: F401,E402
from .version import __version__  # noqa: E402

__all__ = ['__version__']
