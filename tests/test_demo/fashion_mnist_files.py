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


def synthetic_fashion_mnist(per_class_train: int, per_class_test: int,
                            seed: int = 0):
    """Learnable stand-in data: class ``c`` is noise plus a bright 7x7 block
    at a class-specific position; labels cycle 0..9 so every prefix of the
    training images is class-balanced."""
    rng = np.random.default_rng(seed)

    def make(per_class):
        labels = np.tile(np.arange(10), per_class)
        images = rng.integers(0, 60, (labels.size, 28, 28))
        rows, cols = 7 * (labels // 4), 7 * (labels % 4)
        for offset_r in range(7):
            for offset_c in range(7):
                images[np.arange(labels.size), rows + offset_r,
                       cols + offset_c] = 255
        return images.astype(np.uint8), labels.astype(np.uint8)

    train_images, train_labels = make(per_class_train)
    test_images, test_labels = make(per_class_test)
    return dict(
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels)
