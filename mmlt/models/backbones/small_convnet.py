from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.registry import MODELS


@MODELS.register_module()
class SmallConvNet(BaseBackbone):
    """A plain 3-conv CNN for tiny images such as Fashion-MNIST's 28 x 28.

    Stage ``s`` is ``conv3x3 (padding 1) -> BN -> ReLU``; a 2 x 2 max-pool
    follows every stage but the last. With the defaults a 1 x 28 x 28 image
    gives a 128 x 7 x 7 feature map (about 7.4 M multiply-adds): cheap enough
    to train on a CPU in a minute, for demos and quick experiments. Follow it
    with ``GlobalAveragePooling`` and a linear head.

    Args:
        in_channels (int): Input image channels. Defaults to 1.
        channels (Sequence[int]): Output channels of each stage.
            Defaults to ``(32, 64, 128)``.
        conv_cfg (dict, optional): Config of the conv layers. Defaults to
            None (``nn.Conv2d``).
        norm_cfg (dict): Config of the norm layers. Defaults to BN.
        act_cfg (dict): Config of the activations. Defaults to ReLU.
        init_cfg (dict | list[dict], optional): Initialisation config.
            Defaults to Kaiming init of convs, norm weight 1 and bias 0.
    """

    def __init__(self,
                 in_channels: int = 1,
                 channels: Sequence[int] = (32, 64, 128),
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 init_cfg: Union[dict, Sequence[dict], None] = [
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(
                         type='Constant',
                         val=1,
                         layer=['_BatchNorm', 'GroupNorm'])
                 ]) -> None:
        super().__init__(init_cfg)
        if len(channels) == 0:
            raise ValueError('SmallConvNet needs at least one stage, got '
                             f'channels={tuple(channels)}.')
        layers = []
        for i, out_channels in enumerate(channels):
            if i > 0:
                layers.append(nn.MaxPool2d(kernel_size=2))
            layers.append(
                ConvModule(
                    in_channels,
                    out_channels,
                    kernel_size=3,
                    padding=1,
                    conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg))
            in_channels = out_channels
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        """Return the last stage's feature map as a one-element tuple."""
        return (self.layers(x), )
