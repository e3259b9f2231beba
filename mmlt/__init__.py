"""mmlt: long-tailed image classification for MMPretrain.

Importing this package registers every mmlt module in MMPretrain's
registries (scope ``mmpretrain``) and applies the small compatibility
patches in :mod:`mmlt.utils.compat`.
"""
from .utils import compat  # noqa: F401  (patches first)
from . import datasets, engine, evaluation, models  # noqa: F401,E402
from .version import __version__  # noqa: E402

__all__ = ['__version__']
