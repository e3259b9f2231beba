r"""The unpickler of ``tools/test.py --out`` dumps: safe, and holding about
one copy of the predictions.

A dump is a protocol-2 pickle of per-sample dicts of tensors (mmengine's
``DumpResults``). Each tensor's storage is written as a latin-1 string that
``_codecs.encode`` turns into bytes, which
``torch.storage._load_from_bytes`` turns into the storage. pickle's memo
keeps every one of those strings, bytes, storages and tensors until the
whole file is read, so a plain load holds about three copies of the data.
:class:`DumpUnpickler` is built on the pure-Python ``pickle._Unpickler``
(the C unpickler's memo and dict filling cannot be changed from Python) and
differs in three ways:

- globals outside an allowlist (tensors, NumPy arrays, containers, numbers:
  what a dump of MMPretrain data samples holds) are refused, so a file that
  would run code is not executed; storages are decoded by
  :func:`storage_from_bytes`, not ``torch.load``;
- the memo does not keep one-use objects (strings and bytes of at least
  :data:`ONE_USE_MIN_LEN`: the storage of about 200 float32 values or more;
  tensors, arrays, tuples holding those): a dump refers to each once, and a
  reference to one again is an error;
- the values of ``row_keys`` (``pred_score``, ``pred_logits``) are copied,
  as float32 rows, into one growing buffer per key as their dict is filled,
  and replaced by a :class:`RowRef`; so after the load the rows are in
  buffers of :math:`N \times C` floats (grown in place, no final copy)
  and the samples hold only the small tensors (labels).
"""
import pickle
from typing import Any, Dict, NamedTuple, Sequence

import numpy as np
import torch

from .legacy_storage import storage_from_bytes

# Strings and bytes at least this long are kept out of the memo.
ONE_USE_MIN_LEN = 1024


def rebuild_tensor(storage: torch.Tensor,
                   storage_offset: int,
                   size: Sequence[int],
                   stride: Sequence[int],
                   requires_grad: bool = False,
                   backward_hooks: Any = None,
                   metadata: Any = None) -> torch.Tensor:
    """``torch._utils._rebuild_tensor_v2`` over a storage that
    :func:`storage_from_bytes` returned (torch checks that the view stays
    inside it); gradients, hooks and metadata are dropped."""
    if not isinstance(storage, torch.Tensor):
        raise pickle.UnpicklingError(
            f'a tensor is rebuilt from a {type(storage).__name__}; expected '
            'a tensor storage.')
    return storage.as_strided(tuple(size), tuple(stride), storage_offset)


_ALLOWED = {
    ('torch._utils', '_rebuild_tensor_v2'): rebuild_tensor,
    ('torch.storage', '_load_from_bytes'): storage_from_bytes,
    ('collections', 'OrderedDict'): None,
    ('_codecs', 'encode'): None,  # bytes under pickle protocol 2
    ('numpy.core.multiarray', '_reconstruct'): None,
    ('numpy._core.multiarray', '_reconstruct'): None,
    ('numpy.core.multiarray', 'scalar'): None,
    ('numpy._core.multiarray', 'scalar'): None,
    ('numpy', 'ndarray'): None,
    ('numpy', 'dtype'): None,
}


class Refused(pickle.UnpicklingError):
    """A global outside the allowlist."""


class RowRef(NamedTuple):
    """Where a sample's row went: its index in the key's
    :class:`RowBuffer` (-1 if its length differs from the buffer's width)
    and its number of values."""
    index: int
    numel: int


class RowBuffer:
    """Float32 rows of one width, appended one at a time into one array that
    grows by an eighth (at least 1,024 rows) with ``ndarray.resize``: that
    is ``realloc``, which for arrays this large remaps pages rather than
    copying them, and zero-fills only the new rows, so at most an eighth
    more than the rows is resident."""

    def __init__(self) -> None:
        self.rows = np.empty((0, 0), dtype=np.float32)
        self.size = 0

    def append(self, row: torch.Tensor) -> RowRef:
        """Copy ``row`` (any shape, flattened) in; the first row sets the
        width."""
        row = row.detach().reshape(-1)
        if self.size == 0 and self.rows.shape[0] == 0:
            self.rows = np.empty((1024, row.numel()), dtype=np.float32)
        if row.numel() != self.rows.shape[1]:
            return RowRef(-1, row.numel())
        if self.size == self.rows.shape[0]:
            self.rows.resize(
                (self.size + max(1024, self.size // 8), self.rows.shape[1]),
                refcheck=False)
        self.rows[self.size] = row.to(torch.float32).numpy()
        self.size += 1
        return RowRef(self.size - 1, row.numel())

    def take(self, refs: Sequence[RowRef]) -> np.ndarray:
        """The rows of ``refs`` (none with index -1), (len(refs), width):
        the buffer's own array, shrunk, when they are all its rows in order
        (the buffer is then empty), else a copy."""
        index = np.fromiter((ref.index for ref in refs),
                            dtype=np.int64,
                            count=len(refs))
        if index.size == self.size and np.array_equal(index,
                                                      np.arange(self.size)):
            rows, self.rows = self.rows, np.empty((0, 0), dtype=np.float32)
            rows.resize((self.size, rows.shape[1]), refcheck=False)
            self.size = 0
            return rows
        return self.rows[index]


class _Dropped:
    """What the memo holds instead of a one-use object."""


def _is_one_use(obj: Any) -> bool:
    if isinstance(obj, (str, bytes, bytearray)):
        return len(obj) >= ONE_USE_MIN_LEN
    if isinstance(obj, tuple):
        for item in obj:
            if _is_one_use(item):
                return True
        return False
    return isinstance(obj, (torch.Tensor, np.ndarray))


class _OneUseMemo(dict):
    """pickle's memo, with one-use objects replaced by :class:`_Dropped`
    (so that ``MEMOIZE``'s ``len(memo)`` indices stay right)."""

    def __setitem__(self, index: int, obj: Any) -> None:
        super().__setitem__(index, _Dropped if _is_one_use(obj) else obj)

    def __getitem__(self, index: int) -> Any:
        obj = super().__getitem__(index)
        if obj is _Dropped:
            raise pickle.UnpicklingError(
                f'memo entry {index} (a string or bytes of at least '
                f'{ONE_USE_MIN_LEN}, a tensor or an array) is referred to '
                'again; a tools/test.py --out dump refers to each once.')
        return obj


class DumpUnpickler(pickle._Unpickler):
    """Unpickles a ``tools/test.py --out`` file (see the module docstring).

    Args:
        file: The open binary file.
        path (str): Its path, for errors.
        row_keys (Sequence[str]): Dict keys whose values are copied into
            :attr:`rows` and replaced by :class:`RowRef`.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file, path: str, row_keys: Sequence[str]) -> None:
        super().__init__(file)
        self.path = path
        self.memo = _OneUseMemo()
        self.rows: Dict[str, RowBuffer] = {
            key: RowBuffer()
            for key in row_keys
        }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise Refused(
                f'{self.path} refers to {module}.{name}, which a '
                'tools/test.py --out dump (tensors, arrays, numbers) does '
                'not hold; refusing to load it.')
        replacement = _ALLOWED[(module, name)]
        return replacement if replacement is not None else super().find_class(
            module, name)

    def _value(self, key: Any, value: Any) -> Any:
        """``value``, or its :class:`RowRef` if ``key`` is a row key."""
        if (isinstance(key, str) and key in self.rows
                and isinstance(value, (torch.Tensor, np.ndarray))):
            return self.rows[key].append(torch.as_tensor(value))
        return value

    def load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self.stack[-1][key] = self._value(key, value)

    def load_setitems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        for i in range(0, len(items), 2):
            target[items[i]] = self._value(items[i], items[i + 1])

    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = load_setitems
