"""``DumpResults`` whose per-sample tensors own their memory, pickled
without a memo."""
import io
import os.path as osp
import pickle
from typing import Any, BinaryIO, Sequence

import torch
from mmengine.evaluator import DumpResults
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.logging import print_log
from mmengine.utils import mkdir_or_exist
from mmpretrain.registry import METRICS


def _own_copy(data: Any) -> Any:
    """``data`` with every tensor replaced by a CPU copy of its own."""
    if isinstance(data, torch.Tensor):
        return data.detach().to('cpu').clone()
    if isinstance(data, dict):
        return {key: _own_copy(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_own_copy(value) for value in data)
    return data


def dump_without_memo(obj: Any, path: str) -> None:
    """Pickle ``obj`` (protocol 2, as ``mmengine.dump`` writes a ``.pkl``)
    to ``path`` without pickle's memo.

    With a memo, pickling keeps every tensor storage's serialized bytes
    (and, at protocol 2, their latin-1 string) alive until the whole object
    is written, several copies of the data; without one, each is freed once
    written, and the writing holds the pickler's output buffer (the whole
    pickle at protocol 2, at most about twice the file as it grows by half
    at a time), and for another of mmengine's file backends than the local
    one a second copy (the pickle is built in memory, then put). Objects that
    ``obj`` holds more than once are written once per reference, so ``obj``
    must not be cyclic (pickle then raises).

    Args:
        obj (Any): What to pickle, e.g. a list of per-sample dicts.
        path (str): The file to write: a local path or a URI of one of
            mmengine's file backends.
    """
    backend = get_file_backend(path)
    if isinstance(backend, LocalBackend):
        mkdir_or_exist(osp.dirname(osp.abspath(path)))
        with open(path, 'wb') as f:
            _pickle_without_memo(obj, f)
    else:
        buffer = io.BytesIO()
        _pickle_without_memo(obj, buffer)
        backend.put(buffer.getvalue(), path)


def _pickle_without_memo(obj: Any, file: BinaryIO) -> None:
    """Pickle ``obj`` at protocol 2 into ``file``, keeping no memo."""
    pickler = pickle.Pickler(file, protocol=2)
    pickler.fast = True  # no memo
    pickler.dump(obj)


@METRICS.register_module()
class SampleCopyDumpResults(DumpResults):
    """mmengine's :class:`DumpResults` (what ``tools/test.py --out`` writes),
    keeping a copy of each sample's tensors.

    MMPretrain's heads give each data sample a row *view* of the batch's
    score (and logit) tensor; on the CPU ``DumpResults`` keeps those views,
    and pickling a view writes its whole storage, so a dump of :math:`N`
    samples of batch size :math:`B` and :math:`C` classes is
    :math:`O(N B C)` bytes instead of :math:`O(N C)`. Copying each tensor
    when the batch is processed keeps the file (and the memory held until
    the end of the test) at :math:`O(N C)`, and the file is written by
    :func:`dump_without_memo`, which holds at most about twice the file
    where ``mmengine.dump`` holds several times it. The file is the same
    pickle format; ``mmengine.load`` reads it.

    Args:
        out_file_path (str): Path of the dumped ``.pkl`` / ``.pickle`` file.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        collect_dir (str, optional): Directory of the CPU collection.
    """

    def process(self, data_batch: Any, predictions: Sequence[dict]) -> None:
        """Keep a copy of ``predictions`` whose tensors own their memory."""
        self.results.extend(_own_copy(list(predictions)))

    def compute_metrics(self, results: list) -> dict:
        """Write ``results`` to ``out_file_path``."""
        dump_without_memo(results, self.out_file_path)
        print_log(
            f'Results has been saved to {self.out_file_path}.',
            logger='current')
        return {}
