from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.models.backbones.resnet import BasicBlock
from mmpretrain.registry import MODELS


class ZeroPadShortcut(nn.Module):
    """Parameter-free shortcut ("option A" of He et al. 2016): subsample the
    input by ``stride`` and zero-pad the channels, half of the new channels
    before and half after the existing ones.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels, at least ``in_channels``.
        stride (int): Spatial subsampling factor.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 stride: int) -> None:
        super().__init__()
        extra = out_channels - in_channels
        if extra < 0:
            raise ValueError(
                'ZeroPadShortcut can only add channels, got in_channels='
                f'{in_channels} > out_channels={out_channels}.')
        self.pad_front = extra // 2
        self.pad_back = extra - extra // 2
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_front, self.pad_back))


@MODELS.register_module()
class CifarResNet(BaseBackbone):
    """The CIFAR ResNet of `He et al. 2016, section 4.2
    <https://arxiv.org/abs/1512.03385>`_ (e.g. the ResNet-32 of LDAM-DRW).

    A 3x3 conv stem with 16 channels, then three stages of ``n`` basic blocks
    with 16, 32 and 64 channels, the 2nd and 3rd starting with stride 2;
    depth ``6n + 2``. Where the shape changes, the shortcut subsamples and
    zero-pads channels (no parameters), so ResNet-32 has 0.46 M parameters.
    A 32x32 input gives 16x32x32, 32x16x16 and 64x8x8 stage outputs.

    Args:
        depth (int): ``6n + 2`` with ``n >= 1``: 20, 32, 44, 56, 110, ...
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (int | Sequence[int]): Stages (0, 1, 2; negative counts
            from the end) whose outputs are returned. Defaults to ``(2, )``.
        frozen_stages (int): Freeze the stem (0) and stages ``1..k`` (stop
            gradients, eval mode). -1 freezes nothing. Defaults to -1.
        conv_cfg (dict, optional): Config of conv layers. Defaults to None.
        norm_cfg (dict): Config of norm layers. Defaults to ``dict(type='BN',
            requires_grad=True)``.
        norm_eval (bool): Keep BN layers in eval mode (frozen running
            statistics) during training. Defaults to False.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Defaults to Kaiming init of convs, BN weight 1 and bias 0.
    """
    stage_channels = (16, 32, 64)

    def __init__(self,
                 depth: int,
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (2, ),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 init_cfg: Union[dict, Sequence[dict], None] = [
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(
                         type='Constant',
                         val=1,
                         layer=['_BatchNorm', 'GroupNorm'])
                 ]) -> None:
        super().__init__(init_cfg)
        if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
            raise ValueError(
                'CifarResNet depth must be 6n + 2 with n >= 1 (e.g. 20, 32, '
                f'44, 56, 110), got {depth!r}.')
        num_stages = len(self.stage_channels)
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        for index in out_indices:
            if not -num_stages <= index < num_stages:
                raise ValueError(
                    f'out_indices {tuple(out_indices)} must lie in '
                    f'[-{num_stages}, {num_stages - 1}].')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must lie in [-1, {num_stages}], '
                             f'got {frozen_stages}.')
        self.depth = depth
        self.num_blocks = (depth - 2) // 6
        self.out_indices = tuple(i % num_stages for i in out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        stem_channels = self.stage_channels[0]
        self.conv1 = build_conv_layer(
            conv_cfg,
            in_channels,
            stem_channels,
            kernel_size=3,
            stride=1,
            padding=1,
            bias=False)
        self.norm1_name, norm1 = build_norm_layer(
            norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = nn.ReLU(inplace=True)

        self.res_layers = []
        block_in = stem_channels
        for i, channels in enumerate(self.stage_channels):
            stride = 1 if i == 0 else 2
            blocks = []
            for j in range(self.num_blocks):
                shortcut = None
                if j == 0 and (stride != 1 or block_in != channels):
                    shortcut = ZeroPadShortcut(block_in, channels, stride)
                blocks.append(
                    BasicBlock(
                        block_in,
                        channels,
                        stride=stride if j == 0 else 1,
                        downsample=shortcut,
                        conv_cfg=conv_cfg,
                        norm_cfg=norm_cfg))
                block_in = channels
            layer_name = f'layer{i + 1}'
            self.add_module(layer_name, nn.Sequential(*blocks))
            self.res_layers.append(layer_name)

        self._freeze_stages()

    @property
    def norm1(self) -> nn.Module:
        return getattr(self, self.norm1_name)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        stages = self.res_layers[:self.frozen_stages]
        frozen = [self.conv1, self.norm1] + [getattr(self, s) for s in stages]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.relu(self.norm1(self.conv1(x)))
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> 'CifarResNet':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
