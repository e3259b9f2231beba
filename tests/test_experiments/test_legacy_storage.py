import io
import os
import pickle

import pytest
import torch

from mmlt.experiments.legacy_storage import (LEGACY_MAGIC_NUMBER,
                                             LEGACY_PROTOCOL_VERSION,
                                             storage_from_bytes)


def saved(storage) -> bytes:
    """What pickling a tensor writes for its storage
    (``TypedStorage.__reduce__``)."""
    buffer = io.BytesIO()
    torch.save(storage, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


@pytest.mark.parametrize('dtype', [
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64,
    torch.int32, torch.uint8, torch.bool
])
def test_a_typed_storage_is_its_tensor(dtype):
    values = (torch.arange(-7, 13) * 1.5).to(dtype)
    # the storage a pickled tensor carries (what Tensor.__reduce_ex__ uses)
    blob = saved(values.reshape(4, 5).t()._typed_storage())
    storage = storage_from_bytes(blob)
    assert storage.dtype == dtype
    assert torch.equal(storage, values)


def test_an_untyped_storage_is_its_bytes():
    values = torch.tensor([1.0, -2.5, 3.25])
    storage = storage_from_bytes(saved(values.untyped_storage()))
    assert storage.dtype == torch.uint8
    assert bytes(storage.numpy()) == values.numpy().tobytes()


def test_an_empty_storage():
    storage = storage_from_bytes(saved(torch.zeros(0)._typed_storage()))
    assert storage.shape == (0, ) and storage.dtype == torch.float32


class RunsCode:

    def __reduce__(self):
        return (os.mkdir, ('should_not_exist', ))


def header(pid, keys=('key', ), little_endian=True) -> bytes:
    return b''.join(
        pickle.dumps(part, protocol=2)
        for part in (LEGACY_MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION,
                     dict(little_endian=little_endian), pid, list(keys)))


def test_a_storage_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pickle.UnpicklingError, match='refers to posix.mkdir'):
        storage_from_bytes(header(RunsCode()))
    assert not os.path.exists('should_not_exist')


def test_bad_storages_are_refused():
    blob = saved(torch.arange(4.)._typed_storage())
    with pytest.raises(pickle.UnpicklingError, match='holds 4 elements in 12'):
        storage_from_bytes(blob[:-4])
    with pytest.raises(pickle.UnpicklingError, match='format version 1000'):
        storage_from_bytes(blob.replace(b'M\xe9\x03', b'M\xe8\x03', 1))
    with pytest.raises(pickle.UnpicklingError, match='expected a little-endi'):
        storage_from_bytes(header(None, little_endian=False))
    with pytest.raises(pickle.UnpicklingError, match='expected one whole'):
        storage_from_bytes(header(('module', None, None, None, None, None)))
    zip_format = io.BytesIO()
    torch.save(torch.arange(4.)._typed_storage(), zip_format)
    with pytest.raises(pickle.UnpicklingError,
                       match="expected torch's legacy format"):
        storage_from_bytes(zip_format.getvalue())
