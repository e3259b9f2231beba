"""Helpers of the demo tests: tiny Fashion-MNIST-like IDX files."""
import gzip
import os.path as osp
import struct

import numpy as np
import torch
from mmengine.config import Config
from mmpretrain.registry import MODELS


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


# Independent references of the end-to-end tests (demo, accuracy benchmark)
@torch.no_grad()
def model_logits(checkpoint: str, images: np.ndarray) -> np.ndarray:
    """Float64 logits of ``images`` (N, 28, 28) by a forward pass written
    here: the model and normalisation of the config saved in the
    checkpoint's meta, with the checkpoint's weights."""
    state = torch.load(checkpoint, weights_only=False)
    cfg = Config.fromstring(state['meta']['cfg'], '.py')
    model = MODELS.build(cfg.model)
    model.load_state_dict(state['state_dict'])
    model.eval()
    mean, std = cfg.data_preprocessor.mean[0], cfg.data_preprocessor.std[0]
    x = (torch.tensor(images[:, None], dtype=torch.float32) - mean) / std
    logits = model(x, mode='tensor').double().numpy()
    if cfg.model.head.type == 'NormedLinearClsHead':  # forward: cosines
        logits *= cfg.model.head.scale
    return logits


def reference_figures(logits: np.ndarray,
                      labels: np.ndarray,
                      counts,
                      method: str = None,
                      tau: float = 0.0) -> dict:
    """Figures of plain predictions (``method`` None), GALA's transductive
    re-balancing (``'PredictionRebalancing'``: p / m**tau) or post-hoc logit
    adjustment (``'PosthocLogitAdjustment'``: z - tau log prior), computed
    with numpy: shot groups many > 100, medium 20..100, few < 20; ECE with 15
    bins, in percent like the accuracies."""
    counts = np.asarray(counts)
    if method == 'PosthocLogitAdjustment':
        logits = logits - tau * np.log(counts / counts.sum())
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    if method == 'PredictionRebalancing':
        p = p / p.sum(axis=0)**tau
        p = p / p.sum(axis=1, keepdims=True)
    pred, conf = p.argmax(axis=1), p.max(axis=1)
    acc = np.array([
        100 * np.mean(pred[labels == c] == c) for c in range(len(counts))
    ])
    bins = [(conf > i / 15) & (conf <= (i + 1) / 15) for i in range(15)]
    return dict(
        top1=100 * np.mean(pred == labels),
        mean_class_acc=acc.mean(),
        many=acc[counts > 100].mean(),
        medium=acc[(counts >= 20) & (counts <= 100)].mean(),
        few=acc[counts < 20].mean(),
        ece=100 * sum(abs(np.sum((pred == labels)[b] - conf[b]))
                      for b in bins) / len(labels),
        class_acc=acc)


def first_best(grid, score) -> object:
    """The smallest grid value of the highest ``score(value)``."""
    grid = sorted(grid)
    scores = [round(score(value), 9) for value in grid]
    return grid[scores.index(max(scores))]


def check_figures(row: dict, expected: dict, class_acc: bool = True) -> None:
    # Accuracies count samples: equal up to float64 rounding. ECE sums
    # confidences of float32 logits, which differ in the last bits between
    # the pipeline's batches and the one batch here (~1e-7 relative per
    # sample, so up to 100 x 1e-7 = 1e-5 percent).
    for key in ('top1', 'mean_class_acc', 'many', 'medium', 'few', 'ece'):
        tolerance = 1e-5 if key == 'ece' else 1e-6
        assert abs(row[key] - expected[key]) < tolerance, (key, row[key],
                                                           expected[key])
    if class_acc:
        np.testing.assert_allclose(row['class_acc'], expected['class_acc'])
