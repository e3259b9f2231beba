"""Session set-up shared by all tests.

Without CUDA, Triton kernels run on CPU tensors in Triton's interpreter:
``TRITON_INTERPRET`` must be set before any kernel is defined, i.e. before
``mmlt.ops`` is imported. Tests marked ``cuda`` are skipped without CUDA.
"""
import os

import pytest
import torch
from mmengine.registry import DefaultScope

if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs CUDA')
    for item in items:
        if 'cuda' in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def mmpretrain_default_scope():
    """Every test starts in MMPretrain's registry scope, as MMPretrain's own
    tests do (``register_all_modules``): a ``Runner`` built by an earlier
    test in the same process leaves its own default scope (mmengine's
    unless the config names one) current, and a registry build would then
    look in mmengine's registries."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield
