"""Checks of the decompressed (Fashion-)MNIST IDX files that MMPretrain's
:class:`MNIST` loaders read, so that a missing or truncated file gets an
error naming it instead of a download hint or a reshape error."""
import os.path as osp
import struct
from typing import Optional

from mmpretrain.datasets import MNIST
from mmpretrain.datasets.utils import rm_suffix

PREPARE_HINT = (
    'Write the decompressed files with `python demo/prepare_fashion_mnist.py '
    '--dst {root}` (Debian\'s dataset-fashion-mnist package, installed by '
    '`make data`, holds the gzipped originals); see docs/dataset_prepare.md.')

# IDX magic numbers: unsigned bytes, 1 dimension (labels) or 3 (images).
IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}


def check_idx_file(path: str,
                   ndim: int,
                   num_items: Optional[int] = None,
                   hint: str = '') -> None:
    """Raise an error unless ``path`` is a complete IDX file of unsigned
    bytes: the header of ``ndim`` dimensions (1: labels, 3: images) and
    exactly the ``prod(dims)`` bytes it announces.

    Args:
        path (str): A decompressed IDX file.
        ndim (int): 1 (labels) or 3 (images).
        num_items (int, optional): The number of labels or images expected;
            None accepts any.
        hint (str): How to get the right file, appended to the messages.
    """
    header_size = 4 * (ndim + 1)
    with open(path, 'rb') as f:
        header = f.read(header_size)
    if len(header) < header_size or struct.unpack(
            '>I', header[:4])[0] != IDX_MAGIC[ndim]:
        raise ValueError(
            f'{path} is not an IDX file of {ndim}-D unsigned bytes (bad '
            f'or short header). {hint}'.rstrip())
    dims = struct.unpack(f'>{ndim}I', header[4:])
    expected = header_size + int(
        dims[0]) * (dims[1] * dims[2] if ndim == 3 else 1)
    size = osp.getsize(path)
    if size != expected:
        raise ValueError(
            f'{path} is truncated or corrupt: its header announces '
            f'{dims} items ({expected} bytes), the file has {size} '
            f'bytes. {hint}'.rstrip())
    if num_items not in (None, dims[0]):
        raise ValueError(f'{path} holds {dims[0]} items; expected '
                         f'{num_items} items. {hint}'.rstrip())


def check_mnist_files(dataset_cls: type, root: str) -> None:
    """Raise an error naming the first missing or truncated IDX file.

    Each of the four files (``train_list + test_list`` of ``dataset_cls``,
    without ``.gz``) must exist in ``root`` and pass
    :func:`check_idx_file`.

    Args:
        dataset_cls (type): :class:`MNIST` or a subclass (e.g.
            ``FashionMNIST``).
        root (str): The directory the loader reads (``data_root`` joined
            with ``data_prefix``).
    """
    if not issubclass(dataset_cls, MNIST):
        raise TypeError(f'{dataset_cls.__name__} is not an MNIST dataset.')
    hint = PREPARE_HINT.format(root=root or '.')
    for name, _ in dataset_cls.train_list + dataset_cls.test_list:
        path = osp.join(root, rm_suffix(name))
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{dataset_cls.__name__} file {path} not found. {hint}')
        check_idx_file(path, 3 if 'images' in name else 1, hint=hint)
