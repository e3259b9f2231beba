"""LongTailDataset on MMPretrain's real FashionMNIST loader reading small
IDX files written by the test (the profile itself:
test_long_tail_profile.py)."""
import importlib.util
import os.path as osp
import struct
import subprocess
import sys

import mmengine
import mmpretrain
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmpretrain.apis import ImageClassificationInferencer
from mmpretrain.datasets import BaseDataset, FashionMNIST
from mmpretrain.registry import DATASETS

from mmlt.datasets import LongTailDataset

NUM_CLASSES = 10
TRAIN_PER_CLASS = 30
TEST_PER_CLASS = 4


def _write_idx(path, array):
    """IDX file: magic (0, 0, dtype 0x08 = ubyte, ndim), big-endian dims."""
    header = bytes([0, 0, 0x08, array.ndim])
    header += struct.pack(f'>{array.ndim}i', *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_split(root, prefix, labels):
    """Images whose first two pixels encode their index in the split."""
    images = np.zeros((len(labels), 28, 28), dtype=np.uint8)
    indices = np.arange(len(labels))
    images[:, 0, 0] = indices % 256
    images[:, 0, 1] = indices // 256
    _write_idx(root / f'{prefix}-images-idx3-ubyte', images)
    _write_idx(root / f'{prefix}-labels-idx1-ubyte', labels)


def _decode(img):
    return int(img[0, 0]) + 256 * int(img[0, 1])


@pytest.fixture(scope='module')
def fmnist(tmp_path_factory):
    """Decompressed Fashion-MNIST-format files with shuffled labels."""
    root = tmp_path_factory.mktemp('fashion-mnist')
    train_labels = np.random.RandomState(3).permutation(
        np.repeat(np.arange(NUM_CLASSES), TRAIN_PER_CLASS))
    test_labels = np.repeat(np.arange(NUM_CLASSES), TEST_PER_CLASS)
    _write_split(root, 'train', train_labels)
    _write_split(root, 't10k', test_labels)
    return root, train_labels, test_labels


def _exp_counts(num_classes, n_max, imbalance_factor):
    """The exponential profile, written out from its definition."""
    return [
        int(n_max * (1 / imbalance_factor)**(i / (num_classes - 1)))
        for i in range(num_classes)
    ]


# ---------------------------------------------------------------- wrapper
def test_wraps_fashion_mnist_with_formula_counts(fmnist):
    root, train_labels, _ = fmnist
    dataset = LongTailDataset(
        FashionMNIST(data_root=str(root)), imbalance_factor=10)
    # n_max defaults to the smallest class size (30).
    expected = _exp_counts(NUM_CLASSES, TRAIN_PER_CLASS, 10)
    assert dataset.get_train_class_counts().tolist() == expected
    assert list(dataset.metainfo['train_class_counts']) == expected
    assert len(dataset) == sum(expected)
    labels = dataset.get_gt_labels()
    assert np.bincount(labels, minlength=NUM_CLASSES).tolist() == expected

    # The kept images are the seed-0 per-class shuffle, computed here with
    # np.where instead of the library's argsort grouping.
    rng = np.random.RandomState(0)
    reference = []
    for cls in range(NUM_CLASSES):
        members = np.where(train_labels == cls)[0]
        rng.shuffle(members)
        reference.extend(members[:expected[cls]].tolist())
    kept = [_decode(dataset[i]['img']) for i in range(len(dataset))]
    assert kept == sorted(reference)
    assert train_labels[kept].tolist() == labels.tolist()
    assert [int(dataset[i]['gt_label']) for i in range(len(dataset))
            ] == labels.tolist()
    assert dataset.CLASSES == FashionMNIST.METAINFO['classes']


def test_seeded_and_deterministic(fmnist):
    source = FashionMNIST(data_root=str(fmnist[0]))

    def kept(seed):
        # The wrapper subsets a copy; ``source`` itself stays whole.
        dataset = LongTailDataset(source, imbalance_factor=5, seed=seed)
        return [_decode(dataset[i]['img']) for i in range(len(dataset))]

    first = kept(7)
    assert kept(7) == first
    other = kept(8)
    assert other != first and len(other) == len(first)
    assert len(source) == NUM_CLASSES * TRAIN_PER_CLASS


def test_config_dict_and_lazy_init(fmnist):
    dataset = DATASETS.build(
        dict(
            type='LongTailDataset',
            dataset=dict(type='FashionMNIST', data_root=str(fmnist[0])),
            imbalance_factor=30,
            n_max=30,
            profile='step',
            mu=0.4,
            class_order=list(range(NUM_CLASSES))[::-1],
            lazy_init=True))
    assert 'train_class_counts' not in dataset.metainfo
    # Step profile in reversed class order: classes 0..3 are the minority.
    expected = [1] * 4 + [30] * 6
    assert dataset.get_train_class_counts().tolist() == expected
    assert np.bincount(dataset.get_gt_labels()).tolist() == expected
    assert list(dataset.metainfo['train_class_counts']) == expected


def test_balanced_eval_split_reports_train_counts(fmnist):
    root, _, test_labels = fmnist
    # MMPretrain's MNIST loaders pick the test files with test_mode=True.
    test_set = dict(
        type='FashionMNIST', data_root=str(root), split='test',
        test_mode=True)
    dataset = LongTailDataset(
        test_set, imbalance_factor=10, n_max=30, subsample=False)
    assert len(dataset) == len(test_labels)
    assert dataset.get_gt_labels().tolist() == test_labels.tolist()
    assert dataset.get_train_class_counts().tolist() == _exp_counts(
        NUM_CLASSES, 30, 10)
    with pytest.raises(ValueError, match='needs an explicit n_max'):
        LongTailDataset(test_set, imbalance_factor=10, subsample=False)


def test_fashion_mnist_test_split_without_test_mode_is_refused(fmnist):
    """split='test' alone would silently load the training images."""
    wrong = dict(type='FashionMNIST', data_root=str(fmnist[0]), split='test')
    assert len(DATASETS.build(wrong)) == len(fmnist[1])  # MMPretrain's trap
    with pytest.raises(
            ValueError,
            match=r"FashionMNIST\(split='test', test_mode=False\) loads the "
            'training images'):
        LongTailDataset(wrong, imbalance_factor=10, n_max=30, subsample=False)


@pytest.mark.parametrize('kwargs,match', [
    (dict(imbalance_factor=0.5), r'imbalance_factor .* >= 1, got 0.5'),
    (dict(imbalance_factor=100), 'tail class would keep 0 images: n_max=30'),
    (dict(imbalance_factor=2, n_max=31),
     r'1 of 10 classes have fewer images .*\(class 0: 31 requested, 30 '
     'available'),
])
def test_wrapper_errors(fmnist, kwargs, match):
    with pytest.raises(ValueError, match=match):
        LongTailDataset(FashionMNIST(data_root=str(fmnist[0])), **kwargs)


def test_labels_out_of_range(fmnist):
    five_classes = FashionMNIST(
        data_root=str(fmnist[0]),
        metainfo=dict(classes=FashionMNIST.METAINFO['classes'][:5]))
    with pytest.raises(ValueError,
                       match=r'labels in \[0, 9\], expected \[0, 5\)'):
        LongTailDataset(five_classes, imbalance_factor=2)


def test_rejects_non_datasets():
    with pytest.raises(TypeError, match='must be a BaseDataset'):
        LongTailDataset([0, 1, 2], imbalance_factor=2)


class _SoftLabelDataset(BaseDataset):
    """Two samples with soft (float) labels."""

    METAINFO = {'classes': ('a', 'b')}

    def load_data_list(self):
        return [dict(gt_label=0.3), dict(gt_label=0.7)]


def test_soft_labels_are_rejected():
    with pytest.raises(ValueError,
                       match='one integer label per sample, .*float64'):
        LongTailDataset(_SoftLabelDataset(ann_file=''), imbalance_factor=1)


# ------------------------------------------- pipeline for MMPretrain tools
DEMO_CONFIG = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'configs',
    'demo', 'ce_smallconvnet_fashion-mnist-lt.py')


def test_wrapper_pipeline_replaces_the_wrapped_one(fmnist):
    inner = dict(type='FashionMNIST', data_root=str(fmnist[0]),
                 pipeline=[dict(type='PackInputs')])
    kept = LongTailDataset(inner, imbalance_factor=2)
    assert [type(t).__name__ for t in kept.pipeline.transforms] == [
        'PackInputs'
    ]
    assert set(kept[0]) == {'inputs', 'data_samples'}
    # analyze_results.py sets the wrapper's pipeline to [] to read raw infos.
    built = FashionMNIST(data_root=str(fmnist[0]),
                         pipeline=[dict(type='PackInputs')])
    for dataset in (inner, built):
        raw = LongTailDataset(dataset, imbalance_factor=2, pipeline=[])
        assert raw.pipeline.transforms == []
        assert _decode(raw[0]['img']) == _decode(kept.get_data_info(0)['img'])


def _demo_test_config(root):
    cfg = Config.fromfile(DEMO_CONFIG)
    cfg.test_dataloader.dataset.dataset.data_root = str(root)
    return cfg


def test_stock_inferencer_reads_the_wrapper_pipeline(fmnist):
    cfg = _demo_test_config(fmnist[0])
    assert 'pipeline' in cfg.test_dataloader.dataset
    inferencer = ImageClassificationInferencer(model=cfg)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    model = inferencer.model
    indices = [0, 17, 39]
    batch = pseudo_collate([dataset[i] for i in indices])
    with torch.no_grad():
        expected = [s.pred_score for s in model.test_step(batch)]
    images = [dataset.get_data_info(i)['img'] for i in indices]
    results = inferencer(images)
    for result, score in zip(results, expected):
        assert torch.allclose(
            torch.as_tensor(result['pred_scores']), score, atol=1e-6)


def test_stock_analyze_results_runs_on_the_wrapped_test_split(fmnist,
                                                              tmp_path):
    script = osp.join(
        osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'analysis_tools',
        'analyze_results.py')
    assert osp.exists(script), script
    labels = fmnist[2]
    results = [
        dict(sample_idx=i, gt_label=torch.tensor([int(labels[i])]),
             pred_label=torch.tensor([int(labels[i]) if i % 2 else 0]),
             pred_score=torch.full((NUM_CLASSES, ), 0.1))
        for i in (3, 8, 21)
    ]
    mmengine.dump(results, str(tmp_path / 'results.pkl'))
    out = subprocess.run([
        sys.executable, script, DEMO_CONFIG,
        str(tmp_path / 'results.pkl'), '--out-dir',
        str(tmp_path / 'out'), '--cfg-options',
        f'test_dataloader.dataset.dataset.data_root={fmnist[0]}'
    ], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    saved = sorted(p.name for p in (tmp_path / 'out').rglob('*.png'))
    assert saved == ['21.png', '3.png', '8.png']


# ------------------------------------------------------ argument checks
@pytest.mark.parametrize('kwargs,error,match', [
    (dict(imbalance_factor=float('nan')), ValueError,
     'imbalance_factor must be finite, got nan'),
    (dict(imbalance_factor=float('inf')), ValueError,
     'imbalance_factor must be finite, got inf'),
    (dict(imbalance_factor='10'), TypeError,
     "imbalance_factor must be a real number, got '10' of type str"),
    (dict(imbalance_factor=True), TypeError,
     'imbalance_factor must be a real number, got True'),
    (dict(imbalance_factor=10, seed='abc'), TypeError,
     "seed must be an integer, got 'abc' of type str"),
    (dict(imbalance_factor=10, seed=1.5), TypeError,
     'seed must be an integer, got 1.5'),
    (dict(imbalance_factor=10, seed=-1), ValueError,
     r'seed must be in \[0, 2\*\*32\), got -1'),
    (dict(imbalance_factor=10, n_max='30'), TypeError,
     "n_max must be an integer, got '30'"),
    (dict(imbalance_factor=10, n_max=2.5), TypeError,
     'n_max must be an integer, got 2.5'),
    (dict(imbalance_factor=10, profile='step', mu='0.5'), TypeError,
     "mu must be a real number, got '0.5'"),
])
def test_argument_types_and_values(fmnist, kwargs, error, match):
    with pytest.raises(error, match=match):
        LongTailDataset(
            dict(type='FashionMNIST', data_root=str(fmnist[0])), **kwargs)


# ------------------------------------------- missing or truncated IDX files
@pytest.fixture
def fmnist_copy(fmnist, tmp_path):
    root = tmp_path / 'fashion-mnist'
    root.mkdir()
    for path in fmnist[0].iterdir():
        (root / path.name).write_bytes(path.read_bytes())
    return root


def test_missing_fashion_mnist_file_names_it(fmnist_copy):
    (fmnist_copy / 't10k-labels-idx1-ubyte').unlink()
    cfg = dict(type='FashionMNIST', data_root=str(fmnist_copy),
               download=False)
    with pytest.raises(
            FileNotFoundError,
            match=r'FashionMNIST file .*t10k-labels-idx1-ubyte not found\. '
            r'Write the decompressed files with `python '
            r'demo/prepare_fashion_mnist.py --dst .*`make data`'):
        LongTailDataset(cfg, imbalance_factor=2)
    with pytest.raises(FileNotFoundError, match='not found'):
        LongTailDataset(dict(cfg, data_root=str(fmnist_copy / 'nowhere')),
                        imbalance_factor=2)


def test_truncated_fashion_mnist_file_names_it(fmnist_copy):
    path = fmnist_copy / 'train-images-idx3-ubyte'
    path.write_bytes(path.read_bytes()[:-100])
    cfg = dict(type='FashionMNIST', data_root=str(fmnist_copy),
               download=False)
    size = 16 + NUM_CLASSES * TRAIN_PER_CLASS * 28 * 28
    with pytest.raises(
            ValueError,
            match=rf'train-images-idx3-ubyte is truncated or corrupt: its '
            rf'header announces \(300, 28, 28\) items \({size} bytes\), the '
            rf'file has {size - 100} bytes\. .*prepare_fashion_mnist.py'):
        LongTailDataset(cfg, imbalance_factor=2)
    # Truncated files are caught even with download=True (MMPretrain would
    # not re-download a file that exists).
    with pytest.raises(ValueError, match='is truncated or corrupt'):
        LongTailDataset(dict(cfg, download=True), imbalance_factor=2)
    path.write_bytes(b'\x00\x00')
    with pytest.raises(ValueError,
                       match='is not an IDX file of 3-D unsigned bytes'):
        LongTailDataset(cfg, imbalance_factor=2)


def test_stock_test_tool_tta_goes_through_the_wrapper(fmnist, tmp_path,
                                                      monkeypatch):
    script = osp.join(
        osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'test.py')
    spec = importlib.util.spec_from_file_location('stock_test_tool', script)
    stock_test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stock_test)
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setattr(sys, 'argv', [
        'test.py', DEMO_CONFIG, 'ckpt.pth', '--tta', '--work-dir',
        str(tmp_path)
    ])
    cfg = stock_test.merge_args(_demo_test_config(fmnist[0]),
                                stock_test.parse_args())
    # As the runner does: the configs' default_scope is mmpretrain.
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = DATASETS.build(cfg.test_dataloader.dataset)
        views = dataset[0]['inputs']  # the plain and the flipped image
    assert type(dataset.pipeline.transforms[-1]).__name__ == 'TestTimeAug'
    assert len(views) == 2
    assert torch.equal(views[1], views[0].flip(-1))
