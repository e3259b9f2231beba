"""A seconds-long MMPretrain training run on a toy long-tailed dataset, for
hook tests."""
import torch
import torch.nn as nn
from mmengine.runner import Runner
from mmpretrain.registry import DATASETS, MODELS
from mmpretrain.structures import DataSample

TOY_COUNTS = (6, 3, 1)


@DATASETS.register_module(force=True)
class ToyLongTailDataset(torch.utils.data.Dataset):
    """4-dim features, class ``i`` repeated ``TOY_COUNTS[i]`` times."""

    def __init__(self, with_counts: bool = True) -> None:
        self.labels = [i for i, n in enumerate(TOY_COUNTS) for _ in range(n)]
        self.metainfo = dict(classes=('a', 'b', 'c'))
        if with_counts:
            self.metainfo['train_class_counts'] = TOY_COUNTS

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        generator = torch.Generator().manual_seed(index)
        return dict(
            inputs=torch.randn(4, generator=generator),
            data_samples=DataSample().set_gt_label(self.labels[index]))


@MODELS.register_module(force=True)
class ToyFlatBackbone(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> tuple:
        return (self.linear(x), )


def build_runner(work_dir,
                 loss: dict,
                 custom_hooks: list,
                 max_epochs: int = 1,
                 name: str = 'toy',
                 dataset: dict = dict(type='ToyLongTailDataset'),
                 head_type: str = 'LinearClsHead',
                 num_classes: int = len(TOY_COUNTS),
                 **kwargs) -> Runner:
    model = dict(
        type='ImageClassifier',
        data_preprocessor=dict(type='ClsDataPreprocessor'),
        backbone=dict(type='ToyFlatBackbone'),
        head=dict(
            type=head_type,
            num_classes=num_classes,
            in_channels=4,
            loss=loss))
    return Runner(
        model=model,
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(
            dataset=dataset,
            batch_size=4,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        custom_hooks=custom_hooks,
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=100),
            checkpoint=dict(type='CheckpointHook', interval=1)),
        default_scope='mmpretrain',
        log_level='WARNING',
        **kwargs)
