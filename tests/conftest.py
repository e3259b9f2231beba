"""Session set-up shared by all tests.

Without CUDA, Triton kernels run on CPU tensors in Triton's interpreter:
``TRITON_INTERPRET`` must be set before any kernel is defined, i.e. before
``mmlt.ops`` is imported. Tests marked ``cuda`` are skipped without CUDA.
"""
import os

import pytest
import torch

if not torch.cuda.is_available():
    os.environ.setdefault('TRITON_INTERPRET', '1')


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs CUDA')
    for item in items:
        if 'cuda' in item.keywords:
            item.add_marker(skip)
