from mmpretrain.registry import DATASETS
from .long_tail_split_file_dataset import LongTailSplitFileDataset


@DATASETS.register_module()
class PlacesLT(LongTailSplitFileDataset):
    """Places-LT (Liu et al., OLTR, CVPR 2019).

    A long-tailed subset of Places365-Standard with 365 classes:

    - train: 62,500 images, 4,980 (head) to 5 (tail) per class;
    - val: 7,300 images (20 per class, from Places365 train);
    - test: 36,500 images (100 per class, from the Places365 val set).

    Split files ``Places_LT_{train,val,test}.txt`` in ``data_root`` list
    paths such as ``train/airfield/00004851.jpg`` (OLTR's original release:
    ``data_256/a/airfield/...``) relative to ``data_root`` (see
    docs/dataset_prepare.md). Class names are not part of
    the split files; pass ``classes`` to name them. Every split carries the
    training counts in ``metainfo['train_class_counts']``.

    Args:
        data_root (str): Root directory. Defaults to ``'data/places365'``.
        split (str): ``'train'``, ``'val'`` or ``'test'``. Defaults to
            ``'train'``.
        **kwargs: Other keyword arguments of
            :class:`LongTailSplitFileDataset`.
    """

    ANN_FILE = 'Places_LT_{split}.txt'
    SPLITS = ('train', 'val', 'test')
    NUM_CLASSES = 365
    PREPARE_HINT = (
        'Put the Places-LT split files Places_LT_{train,val,test}.txt '
        '(released with OLTR, github.com/zhmiao/OpenLongTailRecognition-OLTR;'
        ' copies in github.com/facebookresearch/classifier-balancing) in '
        'data_root, and the Places365-Standard images in the folders their '
        'paths name (e.g. data_root/train/<category>/, data_root/val/).')

    def __init__(self,
                 data_root: str = 'data/places365',
                 split: str = 'train',
                 **kwargs):
        super().__init__(data_root=data_root, split=split, **kwargs)
