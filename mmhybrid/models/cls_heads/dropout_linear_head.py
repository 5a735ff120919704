# Copyright (c) mmhybrid contributors. All rights reserved.
"""mmpretrain's ``LinearClsHead`` with dropout before the classifier.

The official HAT-Net / TransCNN classifiers are
``Sequential(Dropout(0.2), Linear)`` on the pooled features; mmpretrain has
no head with dropout there. The parameters are ``fc.*`` as in
``LinearClsHead``, so files written for either load into both.
"""
from typing import Tuple

import torch.nn as nn
from mmpretrain.models.heads import LinearClsHead
from torch import Tensor

from mmhybrid.registry import MODELS


@MODELS.register_module()
class DropoutLinearClsHead(LinearClsHead):
    """Linear classifier head with dropout on its input.

    Args:
        num_classes (int): Number of categories.
        in_channels (int): Number of input channels.
        dropout_rate (float): Dropout probability before ``fc`` (active in
            training only). Defaults to 0.
        **kwargs: Other arguments of mmpretrain's ``LinearClsHead``.
    """

    def __init__(self, num_classes: int, in_channels: int,
                 dropout_rate: float = 0., **kwargs) -> None:
        super().__init__(num_classes, in_channels, **kwargs)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 \
            else nn.Identity()

    def pre_logits(self, feats: Tuple[Tensor]) -> Tensor:
        return self.dropout(super().pre_logits(feats))
