"""The held-out rule compares what the splits resolve to: real (tiny)
Fashion-MNIST IDX files and ImageNet-LT split files on disk."""
import copy
import struct

import numpy as np
import pytest

from mmlt.datasets import LongTailDataset
from mmlt.experiments import check_held_out, resolve_samples


def write_idx(path, array):
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack('>BBBB', 0, 0, 0x08, array.ndim)
    path.write_bytes(header + struct.pack(f'>{array.ndim}I', *array.shape) +
                     array.tobytes())


@pytest.fixture(scope='module')
def mnist_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('fashion-mnist')
    rng = np.random.default_rng(0)
    images = {
        'train': rng.integers(0, 256, (200, 28, 28)),
        't10k': rng.integers(0, 256, (50, 28, 28))
    }
    for prefix, imgs in images.items():
        write_idx(root / f'{prefix}-images-idx3-ubyte', imgs)
        write_idx(root / f'{prefix}-labels-idx1-ubyte',
                  np.arange(len(imgs)) % 10)
    return str(root), images


def fmnist(root, **kwargs):
    return dict(type='FashionMNIST', data_root=root, download=False,
                pipeline=[dict(type='PackInputs')], **kwargs)


def long_tail(inner, **kwargs):
    return dict(type='LongTailDataset', imbalance_factor=4, n_max=12,
                dataset=inner, **kwargs)


def demo_splits(root):
    """val / test as configs/_base_/datasets/fashion-mnist-lt.py."""
    val = long_tail(fmnist(root, split='train', indices=-50), subsample=False)
    test = long_tail(fmnist(root, split='test', test_mode=True),
                     subsample=False)
    return val, test


def test_disjoint_splits_pass(mnist_root):
    root, _ = mnist_root
    assert check_held_out(*demo_splits(root)) == dict(num_val=50, num_test=50)


def test_identical_configs_refused(mnist_root):
    root, _ = mnist_root
    _, test = demo_splits(root)
    with pytest.raises(ValueError, match='^cfg.py: the validation dataset '
                       'is the test dataset; .* never on the test split'):
        check_held_out(copy.deepcopy(test), test, 'cfg.py')
    # the same samples under another dict: found by resolving
    with pytest.raises(ValueError, match='^cfg.py: 50 of the 50 validation '
                       'samples are also test samples'):
        check_held_out(dict(test, lazy_init=True), test, 'cfg.py')


@pytest.mark.parametrize('make_val', [
    # an extra `indices` key: the first 10 test images
    lambda root: long_tail(fmnist(root, split='test', test_mode=True,
                                  indices=10), subsample=False),
    # a nested LongTailDataset over the test split
    lambda root: long_tail(long_tail(fmnist(root, split='test',
                                            test_mode=True),
                                     subsample=False), subsample=False),
    # split='test', test_mode=True with other keys, no wrapper
    lambda root: fmnist(root + '/', split='test', test_mode=True,
                        lazy_init=True, indices=[3, 7]),
    # MMPretrain's FashionMNIST picks its files by test_mode, not split
    lambda root: fmnist(root, split='train', test_mode=True, indices=-5),
])
def test_val_dicts_that_differ_but_resolve_to_test_samples(mnist_root,
                                                           make_val):
    root, _ = mnist_root
    _, test = demo_splits(root)
    with pytest.raises(ValueError, match='validation samples are also '
                       'test samples'):
        check_held_out(make_val(root), test, 'cfg.py')


def test_indices_are_followed_exactly(mnist_root):
    root, _ = mnist_root
    first = fmnist(root, split='train', indices=150)
    assert check_held_out(first, fmnist(root, split='train', indices=-50))
    with pytest.raises(ValueError, match='^cfg.py: 1 of the 150'):
        check_held_out(first, fmnist(root, split='train', indices=-51),
                       'cfg.py')


def test_long_tailed_subset_resolves_to_the_kept_images(mnist_root):
    root, images = mnist_root
    inner = fmnist(root, split='train', indices=150)
    subset = long_tail(inner, seed=3)
    built = LongTailDataset(dataset=inner, imbalance_factor=4, n_max=12,
                            seed=3)
    # which raw images the wrapper kept, found by their pixels
    kept = [
        int(np.flatnonzero((images['train'] == built.get_data_info(i)['img']
                            ).all(axis=(1, 2)))[0]) for i in range(len(built))
    ]
    left_out = sorted(set(range(150)) - set(kept))
    assert len(resolve_samples(subset)) == len(kept) < 150
    assert check_held_out(subset, fmnist(root, split='train',
                                         indices=left_out))
    with pytest.raises(ValueError, match='1 of the'):
        check_held_out(subset, fmnist(root, split='train',
                                      indices=[left_out[0], kept[-1]]))


def test_missing_val_split(mnist_root):
    with pytest.raises(ValueError, match='has no val_dataloader.dataset'):
        check_held_out(None, demo_splits(mnist_root[0])[1], 'cfg.py')


def test_image_file_splits_compare_paths(tmp_path):
    classes = range(1000)
    train = ''.join(f'train/n{c:08d}/a.JPEG {c}\n' for c in classes)
    (tmp_path / 'ImageNet_LT_train.txt').write_text(train)
    (tmp_path / 'ImageNet_LT_test.txt').write_text(
        'val/n0/x.JPEG 0\nval/n1/y.JPEG 1\n')
    (tmp_path / 'ImageNet_LT_val.txt').write_text(
        'train/n0/v.JPEG 0\nval/other/../n1/y.JPEG 1\n')
    val = dict(type='ImageNetLT', data_root=str(tmp_path), split='val')
    test = dict(type='ImageNetLT', data_root=str(tmp_path), split='test')
    with pytest.raises(ValueError, match=r'1 of the 2 .*n1/y.JPEG'):
        check_held_out(val, test, 'cfg.py')
    (tmp_path / 'ImageNet_LT_val.txt').write_text('train/n0/v.JPEG 0\n')
    assert check_held_out(val, test) == dict(num_val=1, num_test=2)
