"""Decoding one tensor storage as a pickled tensor holds it.

Pickling a tensor writes its storage with ``torch.save(storage,
_use_new_zipfile_serialization=False)`` (torch's legacy format) and unpickles
it with ``torch.storage._load_from_bytes``. That format is five small
pickles (magic number, protocol version, system info, the storage's
persistent id, the list of storage keys) followed, for the one storage, by
its element count (int64, little-endian) and its raw little-endian bytes.
:func:`storage_from_bytes` reads it without ``torch.load``: the small pickles
through an unpickler that knows only the storage type names, so a blob that
would run code is refused, and the bytes straight into a tensor. A dump
holds one storage per sample and field, and one ``torch.load(...,
weights_only=True)`` per storage was most of the previous reader's time (see
docs/benchmarks.md).
"""
import io
import pickle

import torch

# torch.serialization's MAGIC_NUMBER and PROTOCOL_VERSION of the format.
LEGACY_MAGIC_NUMBER = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL_VERSION = 1001
# How the format starts: the magic number pickled with protocol 2.
_MAGIC_PREFIX = pickle.dumps(LEGACY_MAGIC_NUMBER, protocol=2)

# (module, name) of a storage type in the persistent id -> its dtype (the
# legacy storage classes' own ``dtype``, without touching those deprecated
# classes).
STORAGE_DTYPES = {
    ('torch', f'{name}Storage'): dtype
    for name, dtype in dict(Double=torch.float64,
                            Float=torch.float32,
                            Half=torch.float16,
                            BFloat16=torch.bfloat16,
                            Long=torch.int64,
                            Int=torch.int32,
                            Short=torch.int16,
                            Char=torch.int8,
                            Byte=torch.uint8,
                            Bool=torch.bool,
                            ComplexDouble=torch.complex128,
                            ComplexFloat=torch.complex64).items()
}
STORAGE_DTYPES[('torch.storage', 'UntypedStorage')] = torch.uint8
STORAGE_DTYPES[('torch', 'UntypedStorage')] = torch.uint8


class _HeaderUnpickler(pickle.Unpickler):
    """The small pickles of the format: numbers, strings, containers, the
    storage type names (as their dtype) and the persistent id (as the
    tuple)."""

    def find_class(self, module: str, name: str) -> torch.dtype:
        if (module, name) not in STORAGE_DTYPES:
            raise pickle.UnpicklingError(
                f'a tensor storage refers to {module}.{name}; expected one '
                f'of the storage types {sorted(STORAGE_DTYPES)}.')
        return STORAGE_DTYPES[(module, name)]

    def persistent_load(self, pid):
        return pid


def storage_from_bytes(data: bytes) -> torch.Tensor:
    """The storage that ``torch.storage._load_from_bytes(data)`` would
    return, as a 1-D CPU tensor of its elements.

    Args:
        data (bytes): What ``torch.save(storage,
            _use_new_zipfile_serialization=False)`` writes for one storage.

    Returns:
        torch.Tensor: The storage's elements, (numel, ), of its dtype
        (``torch.uint8`` for an untyped storage). The saved device is
        ignored: the tensor is on the CPU.
    """
    if not data.startswith(_MAGIC_PREFIX):
        raise pickle.UnpicklingError(
            f'a tensor storage starts with {bytes(data[:16])!r}; expected '
            f'torch\'s legacy format ({_MAGIC_PREFIX!r}).')
    stream = io.BytesIO(data)
    header = _HeaderUnpickler(stream)
    _, version, sys_info, pid, keys = (header.load() for _ in range(5))
    if version != LEGACY_PROTOCOL_VERSION:
        raise pickle.UnpicklingError(
            f'a tensor storage has format version {version!r}; expected '
            f'{LEGACY_PROTOCOL_VERSION}.')
    if not isinstance(sys_info, dict) or not sys_info.get('little_endian'):
        raise pickle.UnpicklingError(
            f'a tensor storage was saved with system info {sys_info!r}; '
            'expected a little-endian one.')
    if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == 'storage'
            and isinstance(pid[1], torch.dtype) and pid[5] is None
            and keys == [pid[2]]):
        raise pickle.UnpicklingError(
            f'a tensor storage has the persistent id {pid!r} and keys '
            f'{keys!r}; expected one whole storage (\'storage\', type, key, '
            'location, numel, None) and its key.')
    dtype, numel = pid[1], pid[4]
    start = stream.tell() + 8
    saved_numel = int.from_bytes(data[start - 8:start], 'little')
    end = start + numel * dtype.itemsize
    if saved_numel != numel or end != len(data):
        raise pickle.UnpicklingError(
            f'a tensor storage of {numel} {dtype} elements holds '
            f'{saved_numel} elements in {len(data) - start} bytes; expected '
            f'{numel} elements in {numel * dtype.itemsize} bytes.')
    if numel == 0:
        return torch.empty(0, dtype=dtype)
    return torch.frombuffer(bytearray(memoryview(data)[start:end]),
                            dtype=dtype)
