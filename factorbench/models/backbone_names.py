"""The names of the encoder/decoder backbones (thesis §5.4.1, §4.4, §3.5), torch-free.

Below both :mod:`.backbones` (which builds the networks) and the model configs (which
validate a ``backbone`` field), so a config never imports a network module.
"""

#: conv backbone name -> number of stride-2 conv stages (models/blocks.py)
BACKBONES = {"conv": 4, "conv3": 3}
#: the ResNet backbone of §3.5 (models/resnet.py); its depth follows the image side
RESNET = "resnet"
BACKBONE_NAMES = (*BACKBONES, RESNET)
