"""train_class_counts: a training dataset's metainfo counts, else the counts
of its labels, against hand-counted expectations."""
import pytest

from mmlt.datasets import train_class_counts


class _Labelled:
    """A dataset with labels (and optional metainfo)."""

    def __init__(self, labels, metainfo=None):
        self.labels = labels
        self.metainfo = metainfo or {}

    def get_gt_labels(self):
        return self.labels


def test_metainfo_counts_win_over_labels():
    dataset = _Labelled([0, 0, 1], dict(train_class_counts=[5, 3, 1]))
    assert train_class_counts(dataset).tolist() == [5, 3, 1]


def test_label_counts_include_classes_without_images():
    # 3 x class 0, 1 x class 2; C = 4 from metainfo['classes'] or the
    # argument, so classes 1 and 3 count 0
    labels = [2, 0, 0, 0]
    by_classes = _Labelled(labels, dict(classes=('a', 'b', 'c', 'd')))
    assert train_class_counts(by_classes).tolist() == [3, 0, 1, 0]
    assert train_class_counts(_Labelled(labels), 4).tolist() == [3, 0, 1, 0]
    assert train_class_counts(_Labelled(labels)).tolist() == [3, 0, 1]


def test_a_dataset_with_neither_is_refused_naming_the_owner():
    with pytest.raises(ValueError, match='ClassCountsHook needs the training '
                       'images per class.*object.*no `get_gt_labels'):
        train_class_counts(object(), owner='ClassCountsHook')
