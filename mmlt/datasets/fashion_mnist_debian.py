"""Decompress Debian's ``dataset-fashion-mnist`` files for MMPretrain.

MMPretrain's :class:`FashionMNIST` reads the four *decompressed* IDX files
(``train-images-idx3-ubyte``, ...) from its ``data_root``. Debian ships them
gzipped in ``/usr/share/datasets/fashion-mnist``; this script writes the
decompressed copies into ``data/fashion-mnist`` (skipping files that are
already there and complete) and checks each file
(:func:`mmlt.datasets.mnist_files.check_idx_file`). The command line
is ``demo/prepare_fashion_mnist.py`` (``make data`` installs the package).
"""
import gzip
import os
import os.path as osp
import shutil
import struct
from typing import List

from .mnist_files import check_idx_file

DEBIAN_SOURCE_DIR = '/usr/share/datasets/fashion-mnist'
DEFAULT_DATA_ROOT = 'data/fashion-mnist'
INSTALL_HINT = ('install Debian\'s package with `sudo apt-get install -y '
                'dataset-fashion-mnist` (drop `sudo` as root), or pass '
                '--src DIR holding the four .gz files')

# file name -> number of images or labels
IDX_FILES = {
    'train-images-idx3-ubyte.gz': 60000,
    'train-labels-idx1-ubyte.gz': 60000,
    't10k-images-idx3-ubyte.gz': 10000,
    't10k-labels-idx1-ubyte.gz': 10000,
}


def gzip_uncompressed_size(path: str) -> int:
    """Size of the decompressed data modulo 2**32 (the gzip ISIZE trailer)."""
    with open(path, 'rb') as f:
        f.seek(-4, os.SEEK_END)
        return struct.unpack('<I', f.read(4))[0]


def prepare_fashion_mnist(dst: str = DEFAULT_DATA_ROOT,
                          src: str = DEBIAN_SOURCE_DIR,
                          check_counts: bool = True) -> List[str]:
    """Decompress the four Fashion-MNIST ``.gz`` files from ``src`` to ``dst``.

    A destination file whose size equals the gzip's recorded size is kept as
    is; any other is (re)written through a temporary file, so an interrupted
    run never leaves a truncated file behind.

    Args:
        dst (str): Output directory (MMPretrain's ``data_root``).
        src (str): Directory with the gzipped IDX files.
        check_counts (bool): Check that the files hold the 60,000 / 10,000
            images and labels of Fashion-MNIST (False for tiny test files;
            headers and sizes are always checked).

    Returns:
        list[str]: Paths of the four decompressed files.
    """
    missing = [
        osp.join(src, name) for name in IDX_FILES
        if not osp.isfile(osp.join(src, name))
    ]
    if missing:
        raise FileNotFoundError(
            f'Fashion-MNIST source file(s) not found: {", ".join(missing)}; '
            f'{INSTALL_HINT}.')
    os.makedirs(dst, exist_ok=True)
    outputs = []
    for name, num_items in IDX_FILES.items():
        gz_path = osp.join(src, name)
        out_path = osp.join(dst, name[:-len('.gz')])
        complete = (
            osp.isfile(out_path) and osp.getsize(out_path) % 2**32
            == gzip_uncompressed_size(gz_path))
        if not complete:
            tmp_path = f'{out_path}.part'
            with gzip.open(gz_path, 'rb') as fin, open(tmp_path, 'wb') as fout:
                shutil.copyfileobj(fin, fout, length=1 << 20)
            os.replace(tmp_path, out_path)
        check_idx_file(out_path, 3 if 'images' in name else 1,
                       num_items if check_counts else None)
        outputs.append(out_path)
    return outputs
