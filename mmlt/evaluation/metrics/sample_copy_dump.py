"""``DumpResults`` whose per-sample tensors own their memory."""
from typing import Any, Sequence

import torch
from mmengine.evaluator import DumpResults
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
    the end of the test) at :math:`O(N C)`.

    Args:
        out_file_path (str): Path of the dumped ``.pkl`` / ``.pickle`` file.
        collect_device (str): ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        collect_dir (str, optional): Directory of the CPU collection.
    """

    def process(self, data_batch: Any, predictions: Sequence[dict]) -> None:
        """Keep a copy of ``predictions`` whose tensors own their memory."""
        self.results.extend(_own_copy(list(predictions)))
