"""Checks of the decompressed (Fashion-)MNIST IDX files that MMPretrain's
:class:`MNIST` loaders read, so that a missing or truncated file gets an
error naming it instead of a download hint or a reshape error."""
import os.path as osp
import struct

from mmpretrain.datasets import MNIST
from mmpretrain.datasets.utils import rm_suffix

PREPARE_HINT = (
    'Write the decompressed files with `python demo/prepare_fashion_mnist.py '
    '--dst {root}` (Debian\'s dataset-fashion-mnist package, installed by '
    '`make data`, holds the gzipped originals); see docs/dataset_prepare.md.')

# IDX magic numbers: unsigned bytes, 1 dimension (labels) or 3 (images).
IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}


def check_mnist_files(dataset_cls: type, root: str) -> None:
    """Raise an error naming the first missing or truncated IDX file.

    Each of the four files (``train_list + test_list`` of ``dataset_cls``,
    without ``.gz``) must exist in ``root``, start with the IDX header of
    unsigned-byte labels (1-D) or images (3-D) and hold exactly the
    ``prod(dims)`` bytes its header announces.

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
        ndim = 3 if 'images' in name else 1
        header_size = 4 * (ndim + 1)
        with open(path, 'rb') as f:
            header = f.read(header_size)
        if len(header) < header_size or struct.unpack(
                '>I', header[:4])[0] != IDX_MAGIC[ndim]:
            raise ValueError(
                f'{path} is not an IDX file of {ndim}-D unsigned bytes (bad '
                f'or short header). {hint}')
        dims = struct.unpack(f'>{ndim}I', header[4:])
        expected = header_size + int(
            dims[0]) * (dims[1] * dims[2] if ndim == 3 else 1)
        size = osp.getsize(path)
        if size != expected:
            raise ValueError(
                f'{path} is truncated or corrupt: its header announces '
                f'{dims} items ({expected} bytes), the file has {size} '
                f'bytes. {hint}')
