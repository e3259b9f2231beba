"""Helpers of the demo tests: tiny Fashion-MNIST-like IDX files."""
import gzip
import os.path as osp
import struct

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in the IDX format of (Fashion-)MNIST: magic
    ``0x00 0x00 0x08 ndim``, the dimensions as big-endian uint32, the data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack('>BBBB', 0, 0, 0x08, array.ndim)
    header += struct.pack(f'>{array.ndim}I', *array.shape)
    return header + array.tobytes()


def write_fashion_mnist_gz(src: str, train_images: np.ndarray,
                           train_labels: np.ndarray, test_images: np.ndarray,
                           test_labels: np.ndarray) -> None:
    """Write the four gzipped IDX files that Debian's package ships."""
    files = {
        'train-images-idx3-ubyte.gz': train_images,
        'train-labels-idx1-ubyte.gz': train_labels,
        't10k-images-idx3-ubyte.gz': test_images,
        't10k-labels-idx1-ubyte.gz': test_labels,
    }
    for name, array in files.items():
        with gzip.open(osp.join(src, name), 'wb') as f:
            f.write(idx_bytes(array))
