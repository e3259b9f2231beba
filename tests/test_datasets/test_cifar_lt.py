"""CIFAR-10-LT / CIFAR-100-LT on CIFAR-format pickles written by the test.

The files follow the official on-disk format: Python-2 pickles (protocol 2)
of dicts whose keys are py2 ``str`` (``b'data'``, ``b'labels'`` /
``b'fine_labels'``), ``b'data'`` a uint8 N x 3072 array. MMPretrain's loader
reads them unchanged (``encoding='latin1'``). Pixels are zero except the
first three bytes of each row, which encode the row's index in the split, so
the tests can tell which images were kept.
"""
import pickle
import struct

import numpy as np
import pytest

from mmlt.datasets import CIFAR10LT, CIFAR100LT

SPECS = {
    # class, base folder, train files, test file, label key, n per class
    CIFAR10LT: ('cifar-10-batches-py',
                [f'data_batch_{i}' for i in range(1, 6)], 'test_batch',
                'labels', 5000, 1000, 'batches.meta', 'label_names'),
    CIFAR100LT: ('cifar-100-python', ['train'], 'test', 'fine_labels', 500,
                 100, 'meta', 'fine_label_names'),
}


class _Py2Pickler(pickle._Pickler):
    """Writes ``bytes`` as Python-2 ``str`` (BINSTRING), like CIFAR's
    files."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def _dump(obj, path):
    with open(path, 'wb') as f:
        _Py2Pickler(f, protocol=2).dump(obj)


def _images(indices):
    """Zero images whose first three bytes encode ``indices``."""
    data = np.zeros((len(indices), 3072), dtype=np.uint8)
    data[:, 0] = indices // 65536
    data[:, 1] = indices // 256 % 256
    data[:, 2] = indices % 256
    return data


def _decode(img):
    """Row index encoded by :func:`_images` (img is HWC 32x32x3)."""
    flat = img.transpose(2, 0, 1).reshape(-1)
    return int(flat[0]) * 65536 + int(flat[1]) * 256 + int(flat[2])


def _write_cifar(root, dataset_cls, per_class_train=None, per_class_test=None):
    folder, train_files, test_file, key, n_train, n_test, meta, meta_key = \
        SPECS[dataset_cls]
    n_train = per_class_train or n_train
    n_test = per_class_test or n_test
    num_classes = len(dataset_cls.METAINFO['classes'])
    directory = root / folder
    directory.mkdir(parents=True)
    # Real class distribution in a shuffled order, as in the official files.
    train_labels = np.random.RandomState(1).permutation(
        np.repeat(np.arange(num_classes), n_train))
    test_labels = np.random.RandomState(2).permutation(
        np.repeat(np.arange(num_classes), n_test))
    chunks = np.array_split(np.arange(len(train_labels)), len(train_files))
    for name, chunk in zip(train_files, chunks):
        _dump({
            b'batch_label': b'training batch',
            key.encode(): train_labels[chunk].tolist(),
            b'data': _images(chunk),
        }, directory / name)
    _dump({
        b'batch_label': b'testing batch',
        key.encode(): test_labels.tolist(),
        b'data': _images(np.arange(len(test_labels))),
    }, directory / test_file)
    _dump({meta_key.encode(): [b'c%d' % i for i in range(num_classes)]},
          directory / meta)
    return train_labels, test_labels


@pytest.fixture(scope='module')
def cifar_root(tmp_path_factory):
    """Both CIFAR layouts under one data root, written once."""
    root = tmp_path_factory.mktemp('cifar')
    labels = {cls: _write_cifar(root, cls) for cls in SPECS}
    return root, labels


@pytest.fixture(scope='module')
def build(cifar_root):
    """Build (and cache, to keep the tests fast) a dataset on the pickles."""
    root, _ = cifar_root
    cache = {}

    def _build(dataset_cls, **kwargs):
        key = (dataset_cls, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = dataset_cls(data_root=str(root), **kwargs)
        return cache[key]

    return _build


def _expected_counts(num_classes, n_max, imbalance_factor):
    return [
        int(n_max * (1 / imbalance_factor)**(i / (num_classes - 1)))
        for i in range(num_classes)
    ]


@pytest.mark.parametrize('dataset_cls,imbalance_factor,size', [
    (CIFAR10LT, 100, 12406),
    (CIFAR10LT, 50, 13996),
    (CIFAR10LT, 10, 20431),
    (CIFAR100LT, 100, 10847),
    (CIFAR100LT, 50, 12608),
    (CIFAR100LT, 10, 19573),
])
def test_train_sizes_and_counts(build, dataset_cls, imbalance_factor, size):
    dataset = build(dataset_cls, imbalance_factor=imbalance_factor)
    num_classes = len(dataset_cls.METAINFO['classes'])
    n_max = SPECS[dataset_cls][4]
    expected = _expected_counts(num_classes, n_max, imbalance_factor)
    assert len(dataset) == size == sum(expected)
    assert dataset.get_train_class_counts().tolist() == expected
    assert list(dataset.metainfo['train_class_counts']) == expected
    assert np.bincount(dataset.get_gt_labels()).tolist() == expected


def _ldam_reference(labels, counts, seed):
    """LDAM-DRW's IMBALANCECIFAR selection, written out independently."""
    state = np.random.get_state()
    np.random.seed(seed)
    kept = []
    for the_class, the_img_num in zip(np.unique(labels), counts):
        idx = np.where(labels == the_class)[0]
        np.random.shuffle(idx)
        kept.extend(idx[:the_img_num].tolist())
    np.random.set_state(state)
    return sorted(kept)


@pytest.mark.parametrize('seed', [None, 1])
def test_subset_matches_ldam_drw(build, cifar_root, seed):
    train_labels = cifar_root[1][CIFAR100LT][0]
    kwargs = {} if seed is None else dict(seed=seed)
    dataset = build(CIFAR100LT, imbalance_factor=100, **kwargs)
    kept = [_decode(dataset.get_data_info(i)['img'])
            for i in range(len(dataset))]
    # The default seed is 0, as in LDAM-DRW.
    assert kept == _ldam_reference(train_labels,
                                   _expected_counts(100, 500, 100), seed or 0)
    # The labels travel with their images.
    assert train_labels[kept].tolist() == dataset.get_gt_labels().tolist()


def test_seed_changes_subset_not_counts(build):
    seed0 = build(CIFAR100LT, imbalance_factor=100)
    seed1 = build(CIFAR100LT, imbalance_factor=100, seed=1)
    assert seed0.get_gt_labels().tolist() != seed1.get_gt_labels().tolist()
    assert seed0.get_train_class_counts().tolist() == \
        seed1.get_train_class_counts().tolist()


def test_test_split_is_balanced_and_carries_train_counts(cifar_root):
    root, labels = cifar_root
    dataset = CIFAR100LT(data_root=str(root), split='test',
                         imbalance_factor=50)
    assert len(dataset) == 10000
    assert dataset.get_gt_labels().tolist() == labels[CIFAR100LT][1].tolist()
    expected = _expected_counts(100, 500, 50)
    assert list(dataset.metainfo['train_class_counts']) == expected
    assert dataset.get_train_class_counts().tolist() == expected


def test_check_md5_rejects_unofficial_bytes(cifar_root):
    root, _ = cifar_root
    with pytest.raises(RuntimeError, match='differ from the official'):
        CIFAR100LT(data_root=str(root), check_md5=True)


def test_missing_files_say_how_to_prepare(tmp_path):
    # download=False by default: no network access is attempted.
    with pytest.raises(FileNotFoundError,
                       match=r"\['data_batch_1'.*dataset_prepare.md"):
        CIFAR10LT(data_root=str(tmp_path))


def test_wrong_class_sizes_are_rejected(tmp_path):
    _write_cifar(tmp_path, CIFAR10LT, per_class_train=20, per_class_test=4)
    with pytest.raises(ValueError, match='expected 5000 images for each of 10'
                       r' classes, got per-class sizes \[20, 20'):
        CIFAR10LT(data_root=str(tmp_path), n_max=20, imbalance_factor=2)


@pytest.mark.parametrize('kwargs,match', [
    (dict(imbalance_factor=0.5), r'imbalance_factor .* >= 1, got 0.5'),
    (dict(n_max=50, imbalance_factor=100), 'tail class would keep 0 images'),
])
def test_bad_profile_is_rejected_before_loading(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        CIFAR10LT(data_root=str(tmp_path), **kwargs)


def test_n_max_above_class_size_is_rejected(tmp_path):
    # Checked against the official class size before any file is read.
    with pytest.raises(ValueError, match='n_max=501 exceeds the 500 images'):
        CIFAR100LT(data_root=str(tmp_path), n_max=501)


@pytest.mark.parametrize('kwargs,error,match', [
    (dict(imbalance_factor=float('nan')), ValueError,
     'imbalance_factor must be finite, got nan'),
    (dict(imbalance_factor='10'), TypeError,
     "imbalance_factor must be a real number, got '10'"),
    (dict(n_max='500'), TypeError, "n_max must be an integer, got '500'"),
    (dict(seed='abc'), TypeError, "seed must be an integer, got 'abc'"),
])
def test_argument_types_are_checked_before_loading(tmp_path, kwargs, error,
                                                   match):
    with pytest.raises(error, match=match):
        CIFAR10LT(data_root=str(tmp_path), **kwargs)
