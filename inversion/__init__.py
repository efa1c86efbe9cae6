"""GAN inversion: W / W+ projection with LPIPS, Pivotal Tuning, reconstruction metrics.

    from inversion import invert, InversionConfig, InversionResult
    result = invert(G, crop, method="pti", config=InversionConfig(lpips_backbone="weights/lpips"))
    result.G, result.ws        # generator and pivot to edit with

Metrics live in `inversion.metrics`; the benchmark is `python -m evaluation.inversion_quality`.
"""

from inversion.api import METHODS, InversionResult, invert, target_to_tensor
from inversion.config import InversionConfig
from inversion.errors import InversionError
from inversion.lpips_loss import LPIPSLoss, build_lpips

__all__ = [
    "METHODS",
    "InversionConfig",
    "InversionError",
    "InversionResult",
    "LPIPSLoss",
    "build_lpips",
    "invert",
    "target_to_tensor",
]
