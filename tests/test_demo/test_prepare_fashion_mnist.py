import gzip
import os
import os.path as osp

import numpy as np
import pytest
from fashion_mnist_files import idx_bytes, write_fashion_mnist_gz
from mmpretrain.datasets import FashionMNIST

from mmlt.datasets.fashion_mnist_debian import (IDX_FILES,
                                                prepare_fashion_mnist)
from mmlt.datasets.mnist_files import check_idx_file


@pytest.fixture
def tiny_source(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / 'src'
    src.mkdir()
    data = dict(
        train_images=rng.integers(0, 256, (7, 28, 28)),
        train_labels=np.array([0, 1, 2, 3, 4, 5, 9]),
        test_images=rng.integers(0, 256, (3, 28, 28)),
        test_labels=np.array([8, 7, 6]))
    write_fashion_mnist_gz(str(src), **data)
    return str(src), data


def test_decompressed_files_match_gz_contents(tiny_source, tmp_path):
    src, _ = tiny_source
    dst = str(tmp_path / 'fashion-mnist')
    outputs = prepare_fashion_mnist(dst, src, check_counts=False)
    assert [osp.basename(p) for p in outputs] == [
        name[:-3] for name in IDX_FILES
    ]
    for name in IDX_FILES:
        with gzip.open(osp.join(src, name), 'rb') as f:
            expected = f.read()
        with open(osp.join(dst, name[:-3]), 'rb') as f:
            assert f.read() == expected


def test_mmpretrain_reads_prepared_files(tiny_source, tmp_path):
    src, data = tiny_source
    dst = str(tmp_path / 'fashion-mnist')
    prepare_fashion_mnist(dst, src, check_counts=False)
    train = FashionMNIST(data_root=dst, split='train', download=False)
    test = FashionMNIST(
        data_root=dst, split='test', test_mode=True, download=False)
    assert train.get_gt_labels().tolist() == data['train_labels'].tolist()
    assert test.get_gt_labels().tolist() == data['test_labels'].tolist()
    np.testing.assert_array_equal(train.get_data_info(6)['img'],
                                  data['train_images'][6])
    np.testing.assert_array_equal(test.get_data_info(2)['img'],
                                  data['test_images'][2])


def test_complete_files_are_kept_and_truncated_ones_rewritten(
        tiny_source, tmp_path):
    src, _ = tiny_source
    dst = str(tmp_path / 'fashion-mnist')
    prepare_fashion_mnist(dst, src, check_counts=False)
    labels = osp.join(dst, 'train-labels-idx1-ubyte')
    images = osp.join(dst, 'train-images-idx3-ubyte')
    os.utime(labels, (0, 0))
    with open(images, 'r+b') as f:
        f.truncate(100)
    prepare_fashion_mnist(dst, src, check_counts=False)
    assert osp.getmtime(labels) == 0  # complete: not rewritten
    with gzip.open(osp.join(src, 'train-images-idx3-ubyte.gz'), 'rb') as f:
        expected = f.read()
    with open(images, 'rb') as f:
        assert f.read() == expected
    assert not [p for p in os.listdir(dst) if p.endswith('.part')]


def test_missing_package_names_the_apt_command(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        prepare_fashion_mnist(str(tmp_path / 'dst'), str(tmp_path / 'none'))
    message = str(err.value)
    assert 'apt-get install -y dataset-fashion-mnist' in message
    assert 'train-images-idx3-ubyte.gz' in message


def test_one_missing_file_is_named(tiny_source, tmp_path):
    src, _ = tiny_source
    os.remove(osp.join(src, 't10k-labels-idx1-ubyte.gz'))
    with pytest.raises(FileNotFoundError, match='t10k-labels-idx1-ubyte.gz'):
        prepare_fashion_mnist(str(tmp_path / 'dst'), src)
    assert not osp.exists(tmp_path / 'dst' / 'train-images-idx3-ubyte')


def test_counts_are_checked_by_default(tiny_source, tmp_path):
    src, _ = tiny_source
    with pytest.raises(ValueError, match='7 items.*expected.*60000 items'):
        prepare_fashion_mnist(str(tmp_path / 'dst'), src)


def test_bad_files_are_reported(tmp_path):
    path = str(tmp_path / 'labels')
    with open(path, 'wb') as f:
        f.write(idx_bytes(np.zeros((2, 28, 28))))  # an image file
    check_idx_file(path, 3, num_items=2)
    with pytest.raises(ValueError, match='not an IDX file of 1-D unsigned'):
        check_idx_file(path, 1)
    with pytest.raises(ValueError,
                       match=r'holds 2 items; expected 3 items\.$'):
        check_idx_file(path, 3, num_items=3)
    with open(path, 'ab') as f:
        f.write(b'\x00')  # one byte more than 16 + 2 * 28 * 28
    with pytest.raises(ValueError, match=r'announces \(2, 28, 28\) items '
                       r'\(1584 bytes\), the file has 1585 bytes\. hint'):
        check_idx_file(path, 3, hint='hint')
    with open(path, 'wb') as f:
        f.write(b'\x00\x00')
    with pytest.raises(ValueError, match='not an IDX file'):
        check_idx_file(path, 1)
