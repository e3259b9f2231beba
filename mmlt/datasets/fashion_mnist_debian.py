"""Decompress Debian's ``dataset-fashion-mnist`` files for MMPretrain.

MMPretrain's :class:`FashionMNIST` reads the four *decompressed* IDX files
(``train-images-idx3-ubyte``, ...) from its ``data_root``. Debian ships them
gzipped in ``/usr/share/datasets/fashion-mnist``; this script writes the
decompressed copies into ``data/fashion-mnist`` (skipping files that are
already there and complete) and checks each IDX header. The command line
is ``demo/prepare_fashion_mnist.py`` (``make data`` installs the package).
"""
import gzip
import os
import os.path as osp
import shutil
import struct
from typing import List, Optional

DEBIAN_SOURCE_DIR = '/usr/share/datasets/fashion-mnist'
DEFAULT_DATA_ROOT = 'data/fashion-mnist'
INSTALL_HINT = ('install Debian\'s package with `sudo apt-get install -y '
                'dataset-fashion-mnist` (drop `sudo` as root), or pass '
                '--src DIR holding the four .gz files')

# file name -> (IDX magic number, number of items)
IDX_FILES = {
    'train-images-idx3-ubyte.gz': (0x00000803, 60000),
    'train-labels-idx1-ubyte.gz': (0x00000801, 60000),
    't10k-images-idx3-ubyte.gz': (0x00000803, 10000),
    't10k-labels-idx1-ubyte.gz': (0x00000801, 10000),
}


def gzip_uncompressed_size(path: str) -> int:
    """Size of the decompressed data modulo 2**32 (the gzip ISIZE trailer)."""
    with open(path, 'rb') as f:
        f.seek(-4, os.SEEK_END)
        return struct.unpack('<I', f.read(4))[0]


def check_idx_header(path: str, magic: int,
                     num_items: Optional[int] = None) -> None:
    """Raise ``ValueError`` unless ``path`` starts with the given IDX header.

    Args:
        path (str): A decompressed IDX file.
        magic (int): Expected magic number (``0x803`` images, ``0x801``
            labels).
        num_items (int, optional): Expected number of images or labels;
            None accepts any.
    """
    with open(path, 'rb') as f:
        header = f.read(8)
    if len(header) < 8:
        raise ValueError(f'{path} is not an IDX file: it has only '
                         f'{len(header)} bytes')
    got_magic, got_items = struct.unpack('>II', header)
    if got_magic != magic or num_items not in (None, got_items):
        raise ValueError(
            f'{path} has IDX header (magic {got_magic:#x}, {got_items} '
            f'items); expected (magic {magic:#x}, {num_items} items)')


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
            the magic numbers are always checked).

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
    for name, (magic, num_items) in IDX_FILES.items():
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
        check_idx_header(out_path, magic, num_items if check_counts else None)
        outputs.append(out_path)
    return outputs
