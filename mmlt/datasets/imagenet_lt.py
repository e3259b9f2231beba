from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
from mmpretrain.registry import DATASETS
from .long_tail_split_file_dataset import LongTailSplitFileDataset


@DATASETS.register_module()
class ImageNetLT(LongTailSplitFileDataset):
    """ImageNet-LT (Liu et al., OLTR, CVPR 2019).

    A long-tailed subset of ILSVRC-2012 with 1,000 classes:

    - train: 115,846 images, 1,280 (head) to 5 (tail) per class;
    - val: 20,000 images (20 per class, drawn from ILSVRC-2012 train);
    - test: 50,000 images (the ILSVRC-2012 val set, 50 per class).

    Split files ``ImageNet_LT_{train,val,test}.txt`` in ``data_root`` list
    paths such as ``train/n01440764/n01440764_190.JPEG`` relative to
    ``data_root`` (see docs/dataset_prepare.md). Every split carries the
    training counts in ``metainfo['train_class_counts']``.

    Args:
        data_root (str): Root directory. Defaults to ``'data/imagenet'``.
        split (str): ``'train'``, ``'val'`` or ``'test'``. Defaults to
            ``'train'``.
        **kwargs: Other keyword arguments of
            :class:`LongTailSplitFileDataset`.
    """

    ANN_FILE = 'ImageNet_LT_{split}.txt'
    SPLITS = ('train', 'val', 'test')
    NUM_CLASSES = 1000
    METAINFO = {'classes': IMAGENET_CATEGORIES}
    PREPARE_HINT = (
        'Put the ImageNet-LT split files ImageNet_LT_{train,val,test}.txt '
        '(released with OLTR, github.com/zhmiao/OpenLongTailRecognition-OLTR)'
        ' in data_root, and the ILSVRC-2012 images in data_root/train/<wnid>/'
        ' and data_root/val/<wnid>/.')

    def __init__(self,
                 data_root: str = 'data/imagenet',
                 split: str = 'train',
                 **kwargs):
        super().__init__(data_root=data_root, split=split, **kwargs)
