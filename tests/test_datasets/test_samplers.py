"""ClassAwareSampler and SquareRootSampler: class frequencies (chi-square
with fixed seeds), uniformity inside a class, rank shares, epochs."""
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.registry import DATA_SAMPLERS

from mmlt.datasets import ClassAwareSampler, SquareRootSampler

# Upper 0.1% points of the chi-square distribution (scipy.stats.chi2.ppf).
CHI2_999 = {3: 16.266, 7: 24.322, 49: 85.351}
COUNTS = np.array([400, 200, 100, 50, 25, 12, 6, 3])


class LabelledDataset:
    """The interface the samplers read: ``len`` and ``get_gt_labels``."""

    def __init__(self, labels):
        self.labels = np.asarray(labels)

    def __len__(self):
        return len(self.labels)

    def get_gt_labels(self):
        return self.labels

    def __getitem__(self, idx):
        return int(self.labels[idx])


class LabelledDatasetWithClasses(LabelledDataset):
    """A dataset that also names its classes, as MMPretrain's do."""

    def __init__(self, labels, num_classes):
        super().__init__(labels)
        self.metainfo = dict(classes=tuple(f'c{c}' for c in range(num_classes)))


def _long_tailed_dataset(counts=COUNTS):
    labels = np.repeat(np.arange(len(counts)), counts)
    return LabelledDataset(np.random.RandomState(0).permutation(labels))


def _draws(sampler, epochs):
    indices = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        indices.extend(sampler)
    return np.array(indices)


def _chi_square(observed, expected_probs):
    expected = observed.sum() * np.asarray(expected_probs, dtype=np.float64)
    return float(((observed - expected)**2 / expected).sum())


@pytest.mark.parametrize('sampler_cls,weights', [
    (ClassAwareSampler, np.ones(len(COUNTS))),
    (SquareRootSampler, np.sqrt(COUNTS)),
])
def test_class_frequencies(sampler_cls, weights):
    dataset = _long_tailed_dataset()
    draws = _draws(sampler_cls(dataset, seed=0), epochs=60)  # ~48k draws
    observed = np.bincount(dataset.labels[draws], minlength=len(COUNTS))
    probs = weights / weights.sum()
    assert _chi_square(observed, probs) < CHI2_999[7]
    # The test has power: instance-balanced frequencies are rejected.
    assert _chi_square(observed, COUNTS / COUNTS.sum()) > 100 * CHI2_999[7]


def test_images_uniform_within_a_class():
    dataset = _long_tailed_dataset()
    draws = _draws(SquareRootSampler(dataset, seed=1), epochs=60)
    members = np.flatnonzero(dataset.labels == 3)  # 50 images
    in_class = draws[dataset.labels[draws] == 3]
    observed = np.array([(in_class == m).sum() for m in members])
    assert observed.sum() == len(in_class) > 2000
    assert _chi_square(observed, np.full(50, 1 / 50)) < CHI2_999[49]


def test_classes_without_images_are_never_drawn():
    # Labels 0, 2, 5: classes 1, 3, 4 are absent.
    dataset = LabelledDataset(np.array([0] * 90 + [2] * 9 + [5] * 1))
    with pytest.warns(UserWarning, match=r'3 of 6 classes have no images'):
        draws = _draws(ClassAwareSampler(dataset, seed=0), epochs=200)
    observed = np.bincount(dataset.labels[draws], minlength=6)
    assert observed[[1, 3, 4]].tolist() == [0, 0, 0]
    assert _chi_square(observed[[0, 2, 5]], [1 / 3] * 3) < 13.816  # df 2


@pytest.mark.parametrize('sampler_cls', [ClassAwareSampler, SquareRootSampler])
def test_number_of_classes_comes_from_metainfo(sampler_cls):
    # The top classes 3 and 4 have no images: bincount alone saw 3 classes.
    dataset = LabelledDatasetWithClasses([0] * 6 + [1] * 3 + [2] * 1, 5)
    with pytest.warns(UserWarning,
                      match=r'2 of 5 classes have no images and are never '
                      r'drawn \(first: \[3, 4\]\)'):
        sampler = sampler_cls(dataset, seed=0)
    weights = dict(ClassAwareSampler=np.array([1., 1, 1, 0, 0]),
                   SquareRootSampler=np.sqrt([6., 3, 1, 0, 0]))
    expected = weights[sampler_cls.__name__]
    assert sampler.class_probs.tolist() == pytest.approx(
        (expected / expected.sum()).tolist())
    with pytest.raises(ValueError,
                       match=r'label 5 at index 1, out of range for the 5 '
                       'classes'):
        sampler_cls(LabelledDatasetWithClasses([0, 5], 5), seed=0)


def test_shuffle_true_is_accepted_false_refused():
    dataset = _long_tailed_dataset()
    assert list(ClassAwareSampler(dataset, seed=2, shuffle=True)) == list(
        ClassAwareSampler(dataset, seed=2))
    with pytest.raises(ValueError,
                       match='draws at random with replacement; shuffle must '
                       'be True .* got False'):
        SquareRootSampler(dataset, seed=0, shuffle=False)


@pytest.mark.parametrize('sampler_cls', [ClassAwareSampler, SquareRootSampler])
def test_ranks_get_disjoint_shares_of_one_stream(sampler_cls):
    dataset = _long_tailed_dataset()  # 796 = 4 * 199 samples
    world_size = 4
    whole = list(sampler_cls(dataset, seed=3, rank=0, world_size=1))
    shares = [
        list(sampler_cls(dataset, seed=3, rank=r, world_size=world_size))
        for r in range(world_size)
    ]
    assert all(len(share) == 199 for share in shares)
    # Position p of the single-process stream goes to rank p % world_size,
    # so the shares partition it.
    interleaved = np.stack(shares, axis=1).reshape(-1).tolist()
    assert interleaved == whole
    assert shares[0] != shares[1]


def test_uneven_length_is_rounded_up():
    sampler = ClassAwareSampler(
        LabelledDataset(np.arange(10) % 3), seed=0, rank=3, world_size=4)
    assert len(sampler) == 3 == len(list(sampler))
    assert sampler.total_size == 12


def test_deterministic_per_epoch_and_changes_across_epochs():
    dataset = _long_tailed_dataset()
    sampler = SquareRootSampler(dataset, seed=5)
    epoch0 = list(sampler)
    assert list(sampler) == epoch0
    assert list(SquareRootSampler(dataset, seed=5)) == epoch0
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch1 != epoch0
    sampler.set_epoch(0)
    assert list(sampler) == epoch0
    assert list(SquareRootSampler(dataset, seed=6)) != epoch0


def test_registry_build_and_default_seed():
    dataset = _long_tailed_dataset()
    sampler = DATA_SAMPLERS.build(
        dict(type='ClassAwareSampler'), default_args=dict(dataset=dataset))
    assert isinstance(sampler, ClassAwareSampler)
    assert isinstance(sampler.seed, int)
    assert len(list(sampler)) == len(dataset)
    assert sampler.class_probs.tolist() == [1 / 8] * 8


def test_errors():
    with pytest.raises(ValueError, match=r'rank must be in \[0, 2\), got 2'):
        ClassAwareSampler(_long_tailed_dataset(), seed=0, rank=2, world_size=2)
    with pytest.raises(ValueError, match='got label -1 at index 1'):
        ClassAwareSampler(LabelledDataset([0, -1, 2]), seed=0)
    with pytest.raises(ValueError, match='non-negative integer labels'):
        SquareRootSampler(LabelledDataset([0.5, 1.0]), seed=0)


def test_runner_builds_the_sampler_with_its_seed():
    dataset = _long_tailed_dataset()
    # MMPretrain configs run with default_scope='mmpretrain'.
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        loader = Runner.build_dataloader(
            dict(
                batch_size=16,
                num_workers=0,
                dataset=dataset,
                sampler=dict(type='SquareRootSampler')),
            seed=11)
    assert isinstance(loader.sampler, SquareRootSampler)
    assert loader.sampler.seed == 11
    batch_labels = np.concatenate([np.asarray(batch) for batch in loader])
    assert len(batch_labels) == len(dataset)
    expected = list(SquareRootSampler(dataset, seed=11))
    assert batch_labels.tolist() == dataset.labels[expected].tolist()


def test_stock_sampler_config_switched_by_cfg_options():
    # A stock config's sampler with its type overridden on the command line.
    cfg = Config(dict(train_dataloader=dict(
        sampler=dict(type='DefaultSampler', shuffle=True))))
    cfg.merge_from_dict(
        {'train_dataloader.sampler.type': 'ClassAwareSampler'})
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        loader = Runner.build_dataloader(
            dict(batch_size=8, num_workers=0, dataset=_long_tailed_dataset(),
                 sampler=cfg.train_dataloader.sampler), seed=4)
    assert isinstance(loader.sampler, ClassAwareSampler)
