"""Configurations of SAID and of the simple error-map network (thesis §6.2; docs/protocols.md §3 SAID).

Every field says where its default comes from: a thesis section, or "thesis silent" with
the reason for the value chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...config import check_adam
from ...errors import FactorbenchError

LOSSY_INPUTS = ("bilinear", "vae8")


@dataclass
class GlimpseConfig:
    """The fields SAID and the error-map network share: glimpses, boxes, their prior, Adam."""

    #: the model's name, for error messages
    model = "said"

    #: K, glimpses per image in training: "we set K = 5 in training and K = 9 in AP
    #: measurement" on Multi-MNIST (§6.4.1); K = 10 on CLEVR, 4 on Multi-dSprites (§6.4.5)
    glimpses: int = 5
    #: glimpses run by ``glimpse()`` / ``reconstruct()`` before the stop rule: 9 (§6.4.1)
    eval_glimpses: int = 9
    #: side of the glimpse patch ε(t): 8x8 (§6.2.1, "down-sampled to an 8 x 8 patch")
    patch_size: int = 8
    #: channels of the first conv layer of the glimpse network and of the patch VAE
    #: (thesis silent; 32 as the project's other small conv nets)
    base_channels: int = 32
    #: box half-sizes (normalised, 1 = the whole image) lie in (min, max). Thesis silent:
    #: 0.1 is a 6.4-pixel box on 64x64 (a little under the 8x8 patch, so no glimpse is
    #: upsampled much), 1.0 lets a glimpse cover the whole image as §6.2.2 discusses
    min_half_size: float = 0.1
    max_half_size: float = 1.0
    #: p(u) of L_pos (eq. 6.4), a diagonal Normal over the unsquashed box code z_where.
    #: Thesis silent on values ("the Normal parameters are hyper-parameters", §6.2.2):
    #: the centre prior is N(0, std) around the image centre; the size prior's mean is the
    #: code of this half-size, 0.25 = a 16-pixel box on 64x64, about one Multi-MNIST digit
    #: (20 px on 84, resized to 64: 15 px)
    where_prior_center_std: float = 1.0
    where_prior_half_size: float = 0.25
    where_prior_size_std: float = 1.0
    #: weight of L_pos (eq. 6.4 simply adds it: 1)
    pos_weight: float = 1.0
    #: learn after every glimpse (§6.2.3: "we learn after every iteration rather than build up
    #: a gradient over multiple iterations"): one optimiser step per glimpse (K phases per
    #: batch). False: one step per batch on the loss summed over the K glimpses, the residual
    #: still detached between glimpses
    update_every_glimpse: bool = True
    #: Adam: β1 0.5, β2 0.999 (§6.4); the learning rate is not given in Chapter 6, 2e-4 is the
    #: thesis's value elsewhere (§3.5, §5.4.1)
    lr: float = 2e-4
    adam_beta1: float = 0.5
    adam_beta2: float = 0.999

    def __post_init__(self) -> None:
        if self.glimpses < 1 or self.eval_glimpses < 1:
            raise FactorbenchError(f"{self.model}: glimpses and eval_glimpses must be at least 1")
        if self.patch_size < 4 or self.patch_size % 4:
            raise FactorbenchError(f"{self.model}: patch_size must be a positive multiple of 4 (the patch VAE "
                                   f"halves it twice), got {self.patch_size}")
        if self.base_channels <= 0:
            raise FactorbenchError(f"{self.model}: base_channels must be positive")
        if not 0 < self.min_half_size < self.max_half_size <= 1:
            raise FactorbenchError(f"{self.model}: need 0 < min_half_size < max_half_size <= 1 (normalised "
                                   f"half-sizes; 1 is the whole image), got {self.min_half_size} and "
                                   f"{self.max_half_size}")
        if not self.min_half_size < self.where_prior_half_size < self.max_half_size:
            raise FactorbenchError(f"{self.model}: where_prior_half_size must lie strictly between min_half_size and "
                                   f"max_half_size, got {self.where_prior_half_size}")
        if self.where_prior_center_std <= 0 or self.where_prior_size_std <= 0:
            raise FactorbenchError(f"{self.model}: where_prior_center_std and where_prior_size_std must be "
                                   "positive")
        if self.pos_weight < 0:
            raise FactorbenchError(f"{self.model}: pos_weight must be non-negative")
        check_adam(self.model, self)


@dataclass
class SAIDConfig(GlimpseConfig):
    #: size of the patch VAE's code z(t): "We used a 10-dimensional latent" (§6.2.3)
    latent_dim: int = 10
    #: write-back mask m(t): an alpha mask decoded alongside the patch (True, the SAID row of
    #: Table 6.3) or the binary box mask (False, "SAID (no alpha)") (§6.2.3)
    alpha: bool = True
    #: opacity of the decoded alpha mask at initialisation (thesis silent). PyTorch's default
    #: init writes half-opaque grey patches, which at first raise the residual's code length
    #: by hundreds of nats per glimpse; the glimpse network then learns to write nothing
    #: useful and every glimpse collapses to one box (seen on multi-digits at the quick
    #: scale). Starting nearly transparent (0.02) lets x̂ change only as the patch VAE
    #: learns: L_res then turns negative within ~200 batches. 0.5 is PyTorch's init
    initial_alpha: float = 0.02
    #: scope channel s(t) as a second input of the glimpse network, updated by eq. 6.5
    #: (True, the SAID row) or not ("SAID (no scope)", Table 6.3)
    scope: bool = True
    #: x̂(0), the lossy image the first residual is taken against (§6.4.4): "bilinear" (down
    #: to 8x8 and back up, the SAID row) or "vae8" (an 8x8 VAE reconstructs the downsampled
    #: image, "SAID (VAE8)" of Table 6.3; trained jointly, see model.py)
    lossy_input: str = "bilinear"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.initial_alpha < 1.0:
            raise FactorbenchError(f"said: initial_alpha must be in (0, 1), got {self.initial_alpha}")
        if self.latent_dim <= 0:
            raise FactorbenchError("said: latent_dim must be positive")
        if self.lossy_input not in LOSSY_INPUTS:
            raise FactorbenchError(f"said: lossy_input must be one of {', '.join(LOSSY_INPUTS)}, "
                                   f"got {self.lossy_input!r}")


@dataclass
class ErrorMapConfig(GlimpseConfig):
    """The simple network of §6.2.2: glimpses without a VAE, trained on the squared error.
    Lossy glimpses are down-sampled to ``patch_size`` (8x8) and back up; z_where ~
    N(μ^where, σ^where), "the Normal parameters are hyper-parameters" (§6.2.2), with SAID's
    values (thesis silent); ``pos_weight`` weighs KL(q(z_where) || prior) beside the squared
    error (§6.2.2 names only the squared error: 0 drops the prior term); "the network is
    updated for each iteration" (§6.2.2, ``update_every_glimpse``)."""

    model = "error_map"
    #: K iterations: "we set K = 9" (§6.2.2, CLEVR, at most 10 objects)
    glimpses: int = 9
