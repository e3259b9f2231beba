"""Decompress Debian's ``dataset-fashion-mnist`` files for MMPretrain's
``FashionMNIST`` (see :mod:`mmlt.datasets.fashion_mnist_debian`).

Usage::

    python demo/prepare_fashion_mnist.py [--src DIR] [--dst DIR]
"""
import argparse
import os.path as osp

from mmlt.datasets.fashion_mnist_debian import (DEBIAN_SOURCE_DIR,
                                                DEFAULT_DATA_ROOT,
                                                prepare_fashion_mnist)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--src', default=DEBIAN_SOURCE_DIR,
                        help='directory with the gzipped IDX files')
    parser.add_argument('--dst', default=DEFAULT_DATA_ROOT,
                        help='output directory (MMPretrain data_root)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    for path in prepare_fashion_mnist(args.dst, args.src):
        print(f'{path}: {osp.getsize(path)} bytes')


if __name__ == '__main__':
    main()
