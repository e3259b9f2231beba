from typing import List, Tuple

import numpy as np
from mmengine.fileio import load

from mmpretrain.registry import DATASETS
from .long_tail_split_file_dataset import LongTailSplitFileDataset


@DATASETS.register_module()
class INaturalist2018(LongTailSplitFileDataset):
    """iNaturalist 2018 (Van Horn et al., CVPR 2018), naturally long-tailed.

    8,142 classes; train 437,513 images, 1,000 (head) to 2 (tail) per
    class; the 24,426-image val split (3 per class) is used as the test set.

    Annotations are read either from the community split files
    ``iNaturalist18_{train,val}.txt`` (``relative/path label``, made from
    the official json files; the default) or, when ``ann_file`` ends with
    ``.json``, from the official competition files ``train2018.json`` /
    ``val2018.json`` (COCO style: ``images[{id, file_name}]``,
    ``annotations[{image_id, category_id}]``, ``categories[{id, name}]``;
    labels are the category ids, in the order of ``images``, and the class
    names come from ``categories``). Paths such as
    ``train_val2018/Plantae/7477/<hash>.jpg`` are relative to ``data_root``
    (see docs/dataset_prepare.md). Every split carries the training counts
    in ``metainfo['train_class_counts']``, counted from ``train_ann_file``
    (which defaults to ``train2018.json`` when ``ann_file`` is a json file).

    Args:
        data_root (str): Root directory. Defaults to
            ``'data/inaturalist2018'``.
        split (str): ``'train'`` or ``'val'``. Defaults to ``'train'``.
        **kwargs: Other keyword arguments of
            :class:`LongTailSplitFileDataset`.
    """

    ANN_FILE = 'iNaturalist18_{split}.txt'
    JSON_ANN_FILE = '{split}2018.json'
    SPLITS = ('train', 'val')
    NUM_CLASSES = 8142
    PREPARE_HINT = (
        'Put the split files iNaturalist18_{train,val}.txt (made from the '
        'official json by data/iNaturalist18/gen_lists.py of github.com/'
        'facebookresearch/classifier-balancing) or the official '
        'train2018.json / val2018.json (iNat 2018 competition, github.com/'
        'visipedia/inat_comp/tree/master/2018) in data_root, and the images '
        'of train_val2018.tar.gz in data_root/train_val2018/.')

    def __init__(self,
                 data_root: str = 'data/inaturalist2018',
                 split: str = 'train',
                 **kwargs):
        ann_file = kwargs.get('ann_file')
        if (ann_file is not None and ann_file.endswith('.json')
                and kwargs.get('train_ann_file') is None):
            kwargs['train_ann_file'] = self.JSON_ANN_FILE.format(
                split='train')
        super().__init__(data_root=data_root, split=split, **kwargs)

    def _parse_ann_file(self, ann_file: str) -> Tuple[List[str], np.ndarray]:
        """Read ``(relative paths, labels)`` from a split or json file."""
        if not ann_file.endswith('.json'):
            return super()._parse_ann_file(ann_file)
        self._check_exists(ann_file)
        num_classes = self.num_classes
        try:
            coco = load(ann_file, file_format='json')
        except ValueError as error:  # json.JSONDecodeError, UnicodeError
            raise ValueError(
                f'{ann_file} is not a valid JSON file: {error}.') from None
        try:
            category_ids = [cat['id'] for cat in coco['categories']]
            bad_ids = [i for i in category_ids if not _is_int(i)]
            if bad_ids:
                raise ValueError(
                    f'{ann_file}: category ids must be integers, got '
                    f'{bad_ids[0]!r}.')
            if sorted(category_ids) != list(range(num_classes)):
                category_ids = sorted(category_ids)
                raise ValueError(
                    f'{ann_file}: category ids must be exactly 0..'
                    f'{num_classes - 1}, got {len(category_ids)} ids '
                    f'{category_ids[:3]}...{category_ids[-3:]}.')
            names = {cat['id']: cat['name'] for cat in coco['categories']}
            file_names = {}
            for k, img in enumerate(coco['images']):
                if img['id'] in file_names:
                    raise ValueError(
                        f'{ann_file}: images[{k}] repeats image id '
                        f'{img["id"]!r} (file_name {img["file_name"]!r}).')
                self._check_inside_root(img['file_name'],
                                        f'{ann_file}, images[{k}]')
                file_names[img['id']] = img['file_name']
            label_of = {}
            for k, ann in enumerate(coco['annotations']):
                image_id, label = ann['image_id'], ann['category_id']
                if image_id not in file_names or image_id in label_of:
                    raise ValueError(
                        f'{ann_file}: annotations[{k}] has image_id '
                        f'{image_id}, which is unknown or already labelled.')
                if not _is_int(label):
                    raise ValueError(
                        f'{ann_file}: annotations[{k}] has category_id '
                        f'{label!r}, expected an integer.')
                if not 0 <= label < num_classes:
                    raise ValueError(
                        f'{ann_file}: annotations[{k}] has category_id '
                        f'{label}, out of range [0, {num_classes}).')
                label_of[image_id] = label
        except (KeyError, TypeError) as error:
            raise ValueError(
                f'{ann_file} is not a COCO-style iNaturalist file: {error!r}'
            ) from error
        unlabelled = [i for i in file_names if i not in label_of]
        if unlabelled:
            raise ValueError(
                f'{ann_file}: {len(unlabelled)} images have no annotation '
                f'(first image id: {unlabelled[0]}).')
        self._metainfo.setdefault(
            'classes', tuple(names[i] for i in range(num_classes)))
        paths = list(file_names.values())
        labels = np.array([label_of[i] for i in file_names], dtype=np.int64)
        return paths, labels


def _is_int(value) -> bool:
    """Whether a JSON value is an integer (``1.0`` and ``true`` are not)."""
    return isinstance(value, int) and not isinstance(value, bool)
