"""ImageNetLT, PlacesLT and INaturalist2018 on small split files written in
the community format (``relative/path label`` per line) and, for
iNaturalist, the official COCO-style json."""
import json

import cv2
import numpy as np
import pytest
from mmpretrain.registry import DATASETS

from mmlt.datasets import ImageNetLT, INaturalist2018, PlacesLT


def _write_lines(path, entries):
    path.write_text(''.join(f'{p} {label}\n' for p, label in entries))


def _train_entries(counts, template):
    return [(template.format(c=c, k=k), c) for c, n in enumerate(counts)
            for k in range(n)]


@pytest.fixture(scope='module')
def imagenet_root(tmp_path_factory):
    """ImageNet-LT layout with all 1,000 classes, 1 to 4 images each."""
    root = tmp_path_factory.mktemp('imagenet')
    counts = np.random.RandomState(0).randint(1, 5, size=1000)
    train = _train_entries(counts, 'train/n{c:08d}/n{c:08d}_{k}.JPEG')
    val = [(f'train/n{c:08d}/val_{c}.JPEG', c) for c in (3, 1, 999)]
    test = [(f'val/n{c:08d}/ILSVRC2012_val_{c:08d}.JPEG', c)
            for c in (0, 5, 5, 7)]
    _write_lines(root / 'ImageNet_LT_train.txt', train)
    _write_lines(root / 'ImageNet_LT_val.txt', val)
    _write_lines(root / 'ImageNet_LT_test.txt', test)
    for path, _ in test:  # real images for the pipeline test
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / path), np.full((6, 8, 3), 50, np.uint8))
    return root, counts, train, val, test


def test_imagenet_lt_train(imagenet_root):
    root, counts, train, _, _ = imagenet_root
    dataset = ImageNetLT(data_root=str(root))
    assert len(dataset) == len(train) == counts.sum()
    assert dataset.get_train_class_counts().tolist() == counts.tolist()
    assert list(dataset.metainfo['train_class_counts']) == counts.tolist()
    assert dataset.get_gt_labels().tolist() == [label for _, label in train]
    info = dataset.get_data_info(len(dataset) - 1)
    assert info['img_path'] == str(root / train[-1][0])
    assert len(dataset.CLASSES) == 1000


@pytest.mark.parametrize('split', ['val', 'test'])
def test_imagenet_lt_eval_splits_carry_train_counts(imagenet_root, split):
    root, counts, _, val, test = imagenet_root
    entries = dict(val=val, test=test)[split]
    dataset = DATASETS.build(
        dict(type='ImageNetLT', data_root=str(root), split=split))
    assert len(dataset) == len(entries)
    assert dataset.get_gt_labels().tolist() == [label for _, label in entries]
    assert list(dataset.metainfo['train_class_counts']) == counts.tolist()


def test_pipeline_and_data_prefix(imagenet_root):
    root, _, _, _, test = imagenet_root
    dataset = ImageNetLT(
        data_root=str(root),
        split='test',
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='PackInputs')])
    sample = dataset[1]
    assert tuple(sample['inputs'].shape) == (3, 6, 8)
    assert sample['data_samples'].gt_label.tolist() == [test[1][1]]

    prefixed = ImageNetLT(
        data_root=str(root), split='test', data_prefix='images')
    assert prefixed.get_data_info(0)['img_path'] == str(root / 'images' /
                                                        test[0][0])


def test_lazy_init_still_has_train_counts(imagenet_root):
    root, counts, _, _, _ = imagenet_root
    dataset = ImageNetLT(data_root=str(root), split='test', lazy_init=True)
    assert list(dataset.metainfo['train_class_counts']) == counts.tolist()
    assert len(dataset) == 4


def _small_root(tmp_path, train_lines, name='Places_LT_train.txt'):
    (tmp_path / name).write_text(''.join(train_lines))
    return str(tmp_path)


def test_malformed_line_names_file_and_line(tmp_path):
    root = _small_root(tmp_path,
                       ['a/0.jpg 0\n', 'a/1.jpg 1\n', 'a/2.jpg\n'])
    with pytest.raises(
            ValueError,
            match=r"Places_LT_train.txt, line 3: expected exactly two fields "
            r"\"relative/path label\" \(no spaces in the path\), got 1 in "
            r"'a/2.jpg'"):
        PlacesLT(data_root=root, num_classes=2)
    root = _small_root(tmp_path, ['a/0.jpg 0\n', '\n', 'a/1.jpg one\n'])
    with pytest.raises(ValueError,
                       match="line 3: label 'one' is not an integer in "
                       "'a/1.jpg one'"):
        PlacesLT(data_root=root, num_classes=2)


def test_label_out_of_range_names_file_and_line(tmp_path):
    root = _small_root(tmp_path, ['a/0.jpg 0\n', 'a/1.jpg 1\n', 'b.jpg 2\n'])
    with pytest.raises(
            ValueError,
            match=r"Places_LT_train.txt, line 3: label 2 is out of range "
            r"\[0, 2\) in 'b.jpg 2'"):
        PlacesLT(data_root=root, num_classes=2)
    root = _small_root(tmp_path, ['a/0.jpg -1\n'])
    with pytest.raises(ValueError, match='line 1: label -1 is out of range'):
        PlacesLT(data_root=root, num_classes=2)


def test_class_without_train_images(tmp_path):
    root = _small_root(tmp_path, ['a/0.jpg 0\n', 'a/2.jpg 2\n'])
    with pytest.raises(ValueError,
                       match=r'1 of 3 classes have no image .* \[1\]'):
        PlacesLT(data_root=root, num_classes=3)


def test_places_lt_blank_lines_and_outer_whitespace(tmp_path):
    root = _small_root(tmp_path,
                       ['data_256/a/airfield/1.jpg 1\n', '\n', ' x.jpg 0 \r\n'])
    dataset = PlacesLT(data_root=root, num_classes=2)
    assert [dataset.get_data_info(i)['img_path'] for i in range(2)] == [
        str(tmp_path / 'data_256/a/airfield/1.jpg'),
        str(tmp_path / 'x.jpg')
    ]
    assert dataset.get_train_class_counts().tolist() == [1, 1]


def test_split_file_needs_exactly_two_fields(tmp_path):
    # Read as path 'a/7' label 1 before the parser was strict.
    root = _small_root(tmp_path, ['a/0.jpg 0\n', 'a/7 1 1\n'])
    with pytest.raises(
            ValueError,
            match=r"Places_LT_train.txt, line 2: expected exactly two fields "
            r".* got 3 in 'a/7 1 1'"):
        PlacesLT(data_root=root, num_classes=2)
    root = _small_root(tmp_path, ['a/0.jpg 0\n', 'air field/1.jpg 1\n'])
    with pytest.raises(ValueError, match='line 2: .*no spaces in the path'):
        PlacesLT(data_root=root, num_classes=2)


def test_split_file_byte_order_mark_is_stripped(tmp_path):
    (tmp_path / 'Places_LT_train.txt').write_bytes(
        '\ufeffa/0.jpg 0\nb/1.jpg 1\n'.encode('utf-8'))
    dataset = PlacesLT(data_root=str(tmp_path), num_classes=2)
    assert dataset.get_data_info(0)['img_path'] == str(tmp_path / 'a/0.jpg')
    (tmp_path / 'Places_LT_train.txt').write_bytes(b'a/\xff.jpg 0\n')
    with pytest.raises(ValueError,
                       match='Places_LT_train.txt is not a UTF-8 text file'):
        PlacesLT(data_root=str(tmp_path), num_classes=2)


@pytest.mark.parametrize('path, problem', [
    ('/etc/passwd', 'is absolute'),
    ('../outside/1.jpg', 'leaves the image root'),
    ('a/../../1.jpg', 'leaves the image root'),
])
def test_split_file_paths_stay_inside_root(tmp_path, path, problem):
    root = _small_root(tmp_path, ['a/0.jpg 0\n', f'{path} 1\n'])
    with pytest.raises(
            ValueError,
            match=rf"Places_LT_train.txt, line 2: path '{path}' {problem}.*"
            'allow_paths_outside_root=True'):
        PlacesLT(data_root=root, num_classes=2)
    dataset = PlacesLT(
        data_root=root, num_classes=2, allow_paths_outside_root=True)
    assert dataset.get_gt_labels().tolist() == [0, 1]
    # 'a/../b.jpg' stays inside the root.
    root = _small_root(tmp_path, ['a/0.jpg 0\n', 'a/../b.jpg 1\n'])
    assert len(PlacesLT(data_root=root, num_classes=2)) == 2


def test_places_lt_defaults_to_365_classes(tmp_path):
    counts = [1 + c % 3 for c in range(365)]
    _write_lines(tmp_path / 'Places_LT_train.txt',
                 _train_entries(counts, 'data_256/c{c}/{k}.jpg'))
    _write_lines(tmp_path / 'Places_LT_val.txt', [('val_256/v.jpg', 364)])
    dataset = PlacesLT(data_root=str(tmp_path), split='val')
    assert dataset.get_train_class_counts().tolist() == counts
    assert dataset.get_gt_labels().tolist() == [364]


def test_num_classes_must_match_classes(tmp_path):
    root = _small_root(tmp_path, ['a.jpg 0\n', 'b.jpg 1\n'])
    with pytest.raises(ValueError,
                       match='num_classes=3 but metainfo lists 2 classes'):
        PlacesLT(data_root=root, num_classes=3, classes=['x', 'y'])
    dataset = PlacesLT(data_root=root, classes=['x', 'y'])
    assert dataset.num_classes == 2 and dataset.CLASSES == ('x', 'y')


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r'ImageNet_LT_train.txt not found.*OLTR'):
        ImageNetLT(data_root=str(tmp_path))
    _write_lines(tmp_path / 'ImageNet_LT_test.txt', [('val/a.JPEG', 0)])
    with pytest.raises(
            FileNotFoundError,
            match=r"ImageNet_LT_train.txt not found. It is the train split "
            r"file, read for the train_class_counts of the 'test' split"):
        ImageNetLT(data_root=str(tmp_path), split='test')
    with pytest.raises(ValueError, match="split must be one of"):
        INaturalist2018(data_root=str(tmp_path), split='test')


# ------------------------------------------------------------ iNaturalist
def test_inaturalist_split_files(tmp_path):
    counts = [2 + c % 4 for c in range(8142)]
    template = 'train_val2018/Plantae/{c}/{k}.jpg'
    _write_lines(tmp_path / 'iNaturalist18_train.txt',
                 _train_entries(counts, template))
    _write_lines(tmp_path / 'iNaturalist18_val.txt',
                 [('train_val2018/Plantae/8141/v.jpg', 8141)])
    train = INaturalist2018(data_root=str(tmp_path))
    assert len(train) == sum(counts)
    assert train.get_train_class_counts().tolist() == counts
    val = INaturalist2018(data_root=str(tmp_path), split='val')
    assert val.get_gt_labels().tolist() == [8141]
    assert list(val.metainfo['train_class_counts']) == counts


def _write_coco(path, entries, num_classes, image_ids=None):
    image_ids = image_ids or list(range(100, 100 + len(entries)))
    coco = dict(
        images=[
            dict(id=i, file_name=p, width=8, height=8)
            for i, (p, _) in zip(image_ids, entries)
        ],
        annotations=[
            dict(id=k, image_id=i, category_id=label)
            for k, (i, (_, label)) in enumerate(zip(image_ids, entries))
        ],
        categories=[
            dict(id=c, name=f'species {c}', supercategory='Plantae')
            for c in reversed(range(num_classes))
        ])
    path.write_text(json.dumps(coco))


def test_inaturalist_official_json(tmp_path):
    counts = [3, 1, 2]
    train = _train_entries(counts, 'train_val2018/Plantae/{c}/{k}.jpg')
    val = [('train_val2018/Plantae/2/v.jpg', 2),
           ('train_val2018/Plantae/0/v.jpg', 0)]
    _write_coco(tmp_path / 'train2018.json', train, 3)
    _write_coco(tmp_path / 'val2018.json', val, 3)
    dataset = INaturalist2018(
        data_root=str(tmp_path), split='val', ann_file='val2018.json',
        num_classes=3)
    assert dataset.get_gt_labels().tolist() == [2, 0]
    assert dataset.get_data_info(0)['img_path'] == str(tmp_path / val[0][0])
    assert list(dataset.metainfo['train_class_counts']) == counts
    assert dataset.CLASSES == ('species 0', 'species 1', 'species 2')
    train_set = INaturalist2018(
        data_root=str(tmp_path), ann_file='train2018.json', num_classes=3)
    assert train_set.get_gt_labels().tolist() == [0, 0, 0, 1, 2, 2]


def test_inaturalist_json_errors(tmp_path):
    kwargs = dict(data_root=str(tmp_path), ann_file='train2018.json',
                  num_classes=2)
    _write_coco(tmp_path / 'train2018.json', [('a.jpg', 0), ('b.jpg', 2)], 2)
    with pytest.raises(ValueError,
                       match=r'annotations\[1\] has category_id 2, out of '
                       r'range \[0, 2\)'):
        INaturalist2018(**kwargs)
    _write_coco(tmp_path / 'train2018.json', [('a.jpg', 0), ('b.jpg', 1)], 3)
    with pytest.raises(ValueError, match='category ids must be exactly 0..1'):
        INaturalist2018(**kwargs)
    (tmp_path / 'train2018.json').write_text(json.dumps(dict(images=[])))
    with pytest.raises(ValueError, match="not a COCO-style .*'categories'"):
        INaturalist2018(**kwargs)
    with pytest.raises(FileNotFoundError, match='val2018.json not found.*'
                       'visipedia'):
        INaturalist2018(
            data_root=str(tmp_path), split='val', ann_file='val2018.json')


def test_inaturalist_json_duplicate_image_id(tmp_path):
    # One of the two images was silently dropped before.
    _write_coco(tmp_path / 'train2018.json', [('a.jpg', 0), ('b.jpg', 1)], 2,
                image_ids=[7, 7])
    with pytest.raises(ValueError,
                       match=r"train2018.json: images\[1\] repeats image id 7 "
                       r"\(file_name 'b.jpg'\)"):
        INaturalist2018(data_root=str(tmp_path), ann_file='train2018.json',
                        num_classes=2)


@pytest.mark.parametrize('bad, shown', [(1.0, '1.0'), (True, 'True'),
                                        ('1', "'1'")])
def test_inaturalist_json_category_id_must_be_int(tmp_path, bad, shown):
    kwargs = dict(data_root=str(tmp_path), ann_file='train2018.json',
                  num_classes=2)
    path = tmp_path / 'train2018.json'
    _write_coco(path, [('a.jpg', 0), ('b.jpg', 1)], 2)
    coco = json.loads(path.read_text())
    coco['annotations'][1]['category_id'] = bad
    path.write_text(json.dumps(coco))
    with pytest.raises(ValueError,
                       match=rf'annotations\[1\] has category_id {shown}, '
                       'expected an integer'):
        INaturalist2018(**kwargs)
    coco['annotations'][1]['category_id'] = 1
    coco['categories'][0]['id'] = bad
    path.write_text(json.dumps(coco))
    with pytest.raises(ValueError,
                       match=f'category ids must be integers, got {shown}'):
        INaturalist2018(**kwargs)


def test_inaturalist_json_syntax_error_and_escaping_path(tmp_path):
    path = tmp_path / 'train2018.json'
    path.write_text('{"images": [}')
    with pytest.raises(ValueError,
                       match=r'train2018.json is not a valid JSON file: '
                       r'Expecting value: line 1'):
        INaturalist2018(data_root=str(tmp_path), ann_file='train2018.json',
                        num_classes=2)
    _write_coco(path, [('a.jpg', 0), ('../b.jpg', 1)], 2)
    with pytest.raises(ValueError,
                       match=r"train2018.json, images\[1\]: path '../b.jpg' "
                       'leaves the image root'):
        INaturalist2018(data_root=str(tmp_path), ann_file='train2018.json',
                        num_classes=2)
