from .cifar_resnet import CifarResNet
from .small_convnet import SmallConvNet

__all__ = ['CifarResNet', 'SmallConvNet']
