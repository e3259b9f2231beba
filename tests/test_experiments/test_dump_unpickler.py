import io
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

from mmlt.experiments.dump_unpickler import (ONE_USE_MIN_LEN, DumpUnpickler,
                                             RowBuffer, RowRef)


def unpickler_of(obj, row_keys=('pred_score', )) -> DumpUnpickler:
    return DumpUnpickler(io.BytesIO(pickle.dumps(obj, protocol=2)), 'test.pkl',
                         row_keys)


def test_rows_go_to_the_buffer_and_the_memo_keeps_no_copy():
    g = torch.Generator().manual_seed(0)
    batch = torch.randn(6, 300, generator=g)  # 300 floats: 1,200 bytes
    samples = [
        dict(pred_score=row, gt_label=torch.tensor([i]), name=f'{i}' * 2000)
        for i, row in enumerate(batch)  # rows are views of the batch
    ]
    unpickler = unpickler_of(samples)
    loaded = unpickler.load()
    assert [s['pred_score']
            for s in loaded] == [RowRef(i, 300) for i in range(6)]
    np.testing.assert_array_equal(
        unpickler.rows['pred_score'].take([s['pred_score'] for s in loaded]),
        batch.numpy())
    assert [int(s['gt_label']) for s in loaded] == list(range(6))
    assert loaded[5]['name'] == '5' * 2000  # one-use, not memoized
    kept = list(dict.values(unpickler.memo))
    assert not any(
        isinstance(v, torch.Tensor) or
        (isinstance(v, (str, bytes)) and len(v) >= ONE_USE_MIN_LEN)
        for v in kept)
    assert 'pred_score' in kept  # small strings stay memoized


def test_a_large_object_referred_to_twice_is_an_error():
    text = 'y' * ONE_USE_MIN_LEN
    with pytest.raises(pickle.UnpicklingError, match='referred to again'):
        unpickler_of([text, text]).load()
    short = 'y' * (ONE_USE_MIN_LEN - 1)
    loaded = unpickler_of([short, short]).load()
    assert loaded[0] is loaded[1]


def test_a_view_outside_its_storage_is_refused():

    class OutOfBounds:

        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2,
                    (torch.arange(3.)._typed_storage(), 0, (10, ), (1, ),
                     False, OrderedDict()))

    with pytest.raises(RuntimeError, match='out of bounds'):
        unpickler_of([OutOfBounds()]).load()


def test_row_keys_in_ordered_dicts_and_single_items_and_arrays():
    row = np.arange(4, dtype=np.float64)
    unpickler = unpickler_of([
        OrderedDict(pred_score=row), {
            'pred_score': torch.ones(2, 2)
        }, {
            'other': row.copy()
        }
    ])
    loaded = unpickler.load()
    assert loaded[0]['pred_score'] == RowRef(0, 4)
    assert loaded[1]['pred_score'] == RowRef(1, 4)
    np.testing.assert_array_equal(loaded[2]['other'], row)
    np.testing.assert_array_equal(
        unpickler.rows['pred_score'].take([RowRef(1, 4),
                                           RowRef(0, 4)]),
        [[1, 1, 1, 1], [0, 1, 2, 3]])


def test_row_buffer_grows_and_refuses_other_widths():
    buffer = RowBuffer()
    values = np.arange(2500 * 3, dtype=np.float32).reshape(2500, 3)
    refs = [buffer.append(torch.from_numpy(row)) for row in values]
    assert buffer.append(torch.ones(4)) == RowRef(-1, 4)
    assert buffer.rows.shape[0] == 3072  # grown twice by 1,024 rows
    np.testing.assert_array_equal(buffer.take(refs[::-1]), values[::-1])
    rows = buffer.take(refs)
    assert rows.shape == (2500, 3)
    np.testing.assert_array_equal(rows, values)
    assert buffer.size == 0 and buffer.rows.size == 0  # handed over
