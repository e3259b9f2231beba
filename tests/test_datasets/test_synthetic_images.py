import numpy as np
import pytest

from mmlt.datasets import SyntheticImages


def test_class_sizes_metainfo_and_images():
    dataset = SyntheticImages(class_counts=(4, 2, 1, 3), image_size=5, seed=3)
    labels = np.array(
        [dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))])
    np.testing.assert_array_equal(np.bincount(labels), [4, 2, 1, 3])
    assert labels.tolist() != sorted(labels.tolist())  # shuffled
    assert dataset.metainfo['train_class_counts'] == (4, 2, 1, 3)
    assert len(dataset.metainfo['classes']) == 4
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        img, label = info['img'], info['gt_label']
        assert img.shape == (5, 5, 3) and img.dtype == np.uint8
        # noise in [0, 160) plus 95 on channel label % 3
        bright = img[..., label % 3]
        assert bright.min() >= 95 and bright.max() <= 254
        others = np.delete(img, label % 3, axis=-1)
        assert others.max() < 160


def test_fixed_by_seed():

    def images(seed):
        dataset = SyntheticImages(class_counts=(3, 2), image_size=4, seed=seed)
        return np.stack(
            [dataset.get_data_info(i)['img'] for i in range(len(dataset))])

    np.testing.assert_array_equal(images(0), images(0))
    assert not np.array_equal(images(0), images(1))


def test_train_class_counts_of_an_evaluation_split():
    dataset = SyntheticImages(
        class_counts=(2, 2), train_class_counts=(9, 1), channels=1)
    assert dataset.metainfo['train_class_counts'] == (9, 1)
    assert dataset.get_data_info(0)['img'].shape == (32, 32, 1)


@pytest.mark.parametrize('kwargs, match', [
    (dict(class_counts=()), 'class_counts'),
    (dict(class_counts=(3, 0)), 'class_counts'),
    (dict(class_counts=(3, 1.5)), 'class_counts'),
    (dict(class_counts=(3, True)), 'class_counts'),
    (dict(class_counts=(3, 2), train_class_counts=(3, )), '1 classes'),
    (dict(class_counts=(3, ), image_size=0), 'image_size'),
    (dict(class_counts=(3, ), channels='3'), 'channels'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticImages(**kwargs)
