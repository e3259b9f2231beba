import posixpath
from typing import List, Optional, Tuple, Union

import numpy as np
from mmengine.fileio import exists, get_text, join_path
from mmengine.utils import is_abs

from mmpretrain.datasets import BaseDataset


class LongTailSplitFileDataset(BaseDataset):
    """Base of long-tailed datasets defined by community split files.

    Every non-blank line of a split file is ``relative/path label``:
    exactly two whitespace-separated fields (so a path cannot contain
    spaces), the label an integer in ``[0, C)``, the path relative to
    ``data_prefix`` (by default ``data_root``) and inside it: an absolute
    path or one that leaves it through ``..`` is refused unless
    ``allow_paths_outside_root=True``. A UTF-8 byte-order mark is stripped.
    A malformed line, an out-of-range label or an escaping path raises an
    error naming the file and the line number.

    Every split carries the training images per class in
    ``metainfo['train_class_counts']``, counted from the train split file;
    a class without training images is an error.

    Subclasses set ``ANN_FILE`` (a template with ``{split}``), ``SPLITS``,
    ``NUM_CLASSES`` and ``PREPARE_HINT`` (how to get the files).

    Args:
        data_root (str): Root directory of the dataset.
        split (str): One of ``SPLITS``. Defaults to ``'train'``.
        ann_file (str, optional): Split file of ``split``, relative to
            ``data_root``. Defaults to ``ANN_FILE`` filled with ``split``.
        train_ann_file (str, optional): Train split file counted for
            ``train_class_counts``. Defaults to ``ANN_FILE`` filled with
            ``'train'``.
        data_prefix (str | dict): Image directory, relative to
            ``data_root``. Defaults to ``''``.
        num_classes (int, optional): Number of classes ``C``. Defaults to
            None: the number of ``classes`` in the metainfo if known, else
            ``NUM_CLASSES``.
        metainfo (dict, optional): Meta information, e.g. ``classes``.
        allow_paths_outside_root (bool): Whether split files may list
            absolute paths or paths that leave ``data_prefix`` through
            ``..``. Defaults to False.
        **kwargs: Other keyword arguments of :class:`BaseDataset`.
    """

    ANN_FILE: str = ''
    SPLITS: Tuple[str, ...] = ('train', 'val', 'test')
    NUM_CLASSES: int = 0
    PREPARE_HINT: str = ''

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: Optional[str] = None,
                 train_ann_file: Optional[str] = None,
                 data_prefix: Union[str, dict] = '',
                 num_classes: Optional[int] = None,
                 metainfo: Optional[dict] = None,
                 allow_paths_outside_root: bool = False,
                 **kwargs):
        if split not in self.SPLITS:
            raise ValueError(f'split must be one of {self.SPLITS}, got '
                             f'{split!r}.')
        self.split = split
        self.allow_paths_outside_root = allow_paths_outside_root
        if ann_file is None:
            ann_file = self.ANN_FILE.format(split=split)
        if train_ann_file is None:
            train_ann_file = self.ANN_FILE.format(split='train')
        if not is_abs(train_ann_file) and data_root:
            train_ann_file = join_path(data_root, train_ann_file)
        self.train_ann_file = train_ann_file
        self._num_classes = num_classes
        self._train_class_counts: Optional[np.ndarray] = None
        super().__init__(
            ann_file=ann_file,
            metainfo=metainfo,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)
        if self._train_class_counts is None:
            # Evaluation split, lazy_init, or a train split whose ann_file
            # is not train_ann_file.
            self._check_exists(
                self.train_ann_file,
                f'It is the train split file, read for the '
                f'train_class_counts of the {split!r} split.')
            _, labels = self._parse_ann_file(self.train_ann_file)
            self._train_class_counts = self._count_train_labels(labels)
        self._metainfo['train_class_counts'] = tuple(
            int(n) for n in self._train_class_counts)

    @property
    def num_classes(self) -> int:
        """Number of classes ``C``."""
        num_from_classes = None if self.CLASSES is None else len(self.CLASSES)
        if self._num_classes is None:
            return num_from_classes or self.NUM_CLASSES
        if num_from_classes not in (None, self._num_classes):
            raise ValueError(
                f'num_classes={self._num_classes} but metainfo lists '
                f'{num_from_classes} classes.')
        return self._num_classes

    def load_data_list(self) -> List[dict]:
        """Parse ``ann_file`` into ``img_path`` / ``gt_label`` records."""
        paths, labels = self._parse_ann_file(self.ann_file)
        if self.split == 'train' and self.ann_file == self.train_ann_file:
            self._train_class_counts = self._count_train_labels(labels)
        return [
            dict(img_path=join_path(self.img_prefix, path), gt_label=label)
            for path, label in zip(paths, labels.tolist())
        ]

    def get_train_class_counts(self) -> np.ndarray:
        """Training images per class, shape ``(C,)``."""
        return np.array(self._metainfo['train_class_counts'], dtype=np.int64)

    def _parse_ann_file(self, ann_file: str) -> Tuple[List[str], np.ndarray]:
        """Read ``(relative paths, labels)`` from a split file."""
        self._check_exists(ann_file)
        num_classes = self.num_classes
        try:
            text = get_text(ann_file, encoding='utf-8-sig')
        except UnicodeDecodeError as error:
            raise ValueError(f'{ann_file} is not a UTF-8 text file: '
                             f'{error}.') from None
        paths, labels = [], []
        for line_no, line in enumerate(text.splitlines(), 1):
            fields = line.split()
            if not fields:
                continue
            where = f'{ann_file}, line {line_no}'
            if len(fields) != 2:
                raise ValueError(
                    f'{where}: expected exactly two fields '
                    f'"relative/path label" (no spaces in the path), got '
                    f'{len(fields)} in {line!r}.')
            path, label = fields
            try:
                label = int(label)
            except ValueError:
                raise ValueError(f'{where}: label {label!r} is not an '
                                 f'integer in {line!r}.') from None
            if not 0 <= label < num_classes:
                raise ValueError(
                    f'{where}: label {label} is out of range '
                    f'[0, {num_classes}) in {line!r}.')
            self._check_inside_root(path, where)
            paths.append(path)
            labels.append(label)
        return paths, np.array(labels, dtype=np.int64)

    def _check_inside_root(self, path: str, where: str) -> None:
        """Refuse an absolute path or one that leaves ``data_prefix``."""
        if self.allow_paths_outside_root:
            return
        if is_abs(path) or posixpath.isabs(path):
            problem = 'is absolute'
        elif posixpath.normpath(path).split('/')[0] == '..':
            problem = 'leaves the image root through ".."'
        else:
            return
        raise ValueError(
            f'{where}: path {path!r} {problem}; split-file paths must be '
            f'relative to and inside {self.img_prefix or "data_root"}. Pass '
            'allow_paths_outside_root=True to accept such paths.')

    def _count_train_labels(self, labels: np.ndarray) -> np.ndarray:
        """Images per class of the train split; every class must occur."""
        counts = np.bincount(labels, minlength=self.num_classes)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            raise ValueError(
                f'{empty.size} of {self.num_classes} classes have no image in '
                f'the train split file {self.train_ann_file} (first: '
                f'{empty[:10].tolist()}); check the file and num_classes.')
        return counts

    def _check_exists(self, path: str, note: str = '') -> None:
        """Raise an error that says how to get ``path`` if it is missing."""
        if not exists(path):
            message = [f'{type(self).__name__}: {path} not found.', note,
                       self.PREPARE_HINT, 'See docs/dataset_prepare.md.']
            raise FileNotFoundError(' '.join(m for m in message if m))

    def extra_repr(self) -> List[str]:
        """The extra repr information of the dataset."""
        return [f'Split: \t{self.split}'] + super().extra_repr()

