"""CS231n's ``cs231n/classifiers``: ``fc_net`` and ``cnn``."""

from . import cnn, fc_net
from .cnn import ThreeLayerConvNet
from .fc_net import FullyConnectedNet, TwoLayerNet

__all__ = ["FullyConnectedNet", "ThreeLayerConvNet", "TwoLayerNet", "cnn", "fc_net"]
