"""Configuration of GAN inversion: W / W+ projection and Pivotal Tuning (PTI).

Defaults follow NVlabs stylegan2-ada-pytorch `projector.py` (schedule, latent and
noise regularisation) and danielroich/PTI `configs/hyperparameters.py` (step
counts, learning rates, PTI losses, locality regulariser).
"""

from __future__ import annotations

from dataclasses import dataclass

from common.configs import config_from_dict, config_to_dict
from inversion.errors import InversionError

LPIPS_NETS = ("vgg", "alex", "squeeze")
WPLUS_INITS = ("w", "w_avg")
PTI_PIVOTS = ("w", "w+")
# PTI's early-stop LPIPS value per backbone. Only AlexNet's is calibrated: 0.06 is PTI's
# LPIPS_value_threshold with lpips_type 'alex' (danielroich/PTI configs/hyperparameters.py).
# LPIPS values are not comparable across backbones (SqueezeNet's run higher on the same
# pair: an AlexNet-calibrated 0.06 stopped LPIPS-squeeze tuning at 66 of 100 steps, 18 dB),
# so the other nets get no LPIPS stop; `pti_stop_psnr` stops on a network-independent target.
PTI_LPIPS_THRESHOLDS: dict[str, float] = {"alex": 0.06}


@dataclass(frozen=True)
class InversionConfig:
    """Every knob of `invert`; vary with `dataclasses.replace(config, w_steps=...)`.

    Projection (W and W+) ------------------------------------------------------
    The learning rate follows NVlabs' schedule: linear ramp-up over the first
    `lr_rampup` of the steps, cosine ramp-down over the last `lr_rampdown`.
    Gaussian noise of `initial_noise_factor * w_std` is added to the latent,
    decaying quadratically to 0 at `noise_ramp_length` of the steps.

    PTI ------------------------------------------------------------------------
    A copy of the generator is tuned on L2 + LPIPS with the pivot frozen,
    stopping early once the LPIPS term reaches `pti_lpips_threshold` (None = the
    value calibrated for `pti_lpips_net`, see `PTI_LPIPS_THRESHOLDS`) or the
    reconstruction reaches `pti_stop_psnr` dB.

    LPIPS backbones --------------------------------------------------------------
    `lpips_backbone` says where the ImageNet backbone of LPIPS comes from (the
    linear calibration layers always come from the `lpips` package):
      * None: torchvision's cache (`torch.hub.get_dir()/checkpoints/<file>`); if
        the file is absent, `MissingWeightsError` (inversion never downloads:
        `run_pipeline.py` fetches it first, `hub.lpips_weights`);
      * a file: a features state dict (`squeezenet1_1().features.state_dict()`
        keys `0.weight` ..., or torchvision's full file with `features.*` keys)
        for the net(s) in use; a single file cannot serve two different nets;
      * a directory: holds `<arch>_features.pth` (`vgg16`, `alexnet`,
        `squeezenet1_1`) or torchvision's file name for each net in use;
      * 'random': a randomly initialised backbone. For tests only: the distance
        is then meaningless as a perceptual metric.
    """

    # --- W projection --------------------------------------------------------
    w_steps: int = 450  # Adam steps on w (PTI first_inv_steps; NVlabs uses 1000).
    w_lr: float = 0.01  # Peak learning rate (PTI projector default; NVlabs uses 0.1).
    w_avg_samples: int = 10000  # Mapped samples for w_avg / w_std (NVlabs; PTI uses 600).
    # --- W+ projection -------------------------------------------------------
    wplus_steps: int = 450  # Adam steps on all num_ws rows.
    wplus_lr: float = 0.01  # Peak learning rate of the W+ stage.
    wplus_init: str = "w"  # 'w': start from the W result (runs W first); 'w_avg': from w_avg.
    wplus_pivot_weight: float = 0.0  # Weight of mean_rows ||ws - ws_W||^2 pulling W+ toward the W pivot.
    # --- Shared projection machinery (NVlabs projector.py) -------------------
    lr_rampup: float = 0.05  # Fraction of steps of the linear learning-rate ramp-up.
    lr_rampdown: float = 0.25  # Fraction of steps of the cosine learning-rate ramp-down.
    initial_noise_factor: float = 0.05  # Latent noise std at step 0, in units of w_std.
    noise_ramp_length: float = 0.75  # Fraction of steps after which the latent noise is 0.
    optimize_noise: bool = True  # Re-draw and optimise the noise_const buffers (on a copy of G).
    noise_regularize_weight: float = 1e5  # Weight of the multi-scale noise autocorrelation penalty.
    mse_weight: float = 0.0  # Weight of a pixel MSE term (images in [-1, 1]); 0 as NVlabs.
    lpips_net: str = "vgg"  # LPIPS backbone of projection: 'vgg' (NVlabs, PTI), 'alex', 'squeeze'.
    lpips_max_resolution: int | None = 256  # Area-downsample images above this before LPIPS (NVlabs), None = never.
    # --- PTI (danielroich/PTI configs/hyperparameters.py) ---------------------
    pti_pivot: str = "w"  # Latent tuned around: 'w' (PTI first_inv_type) or 'w+'.
    pti_steps: int = 350  # Maximum tuning steps (max_pti_steps).
    pti_lr: float = 3e-4  # Adam learning rate of the generator (pti_learning_rate).
    pti_l2_weight: float = 1.0  # Weight of the pixel MSE (pt_l2_lambda).
    pti_lpips_weight: float = 1.0  # Weight of LPIPS (pt_lpips_lambda).
    pti_lpips_net: str = "alex"  # LPIPS backbone of tuning (lpips_type).
    pti_lpips_max_resolution: int | None = None  # As lpips_max_resolution; None = full resolution as PTI.
    pti_lpips_threshold: float | None = None  # Stop once LPIPS <= this; None = PTI_LPIPS_THRESHOLDS[net]
    # (alex 0.06, PTI's LPIPS_value_threshold; no stop for others); 0 = never.
    pti_stop_psnr: float = 0.0  # Stop once the reconstruction's PSNR >= this (dB); 0 = never.
    locality_regularization: bool = False  # Keep the latent space around the pivot intact (PTI default off).
    locality_alpha: float = 30.0  # Distance from the pivot of the regularisation latents (regulizer_alpha).
    locality_l2_weight: float = 0.1  # regulizer_l2_lambda.
    locality_lpips_weight: float = 0.1  # regulizer_lpips_lambda.
    locality_num_samples: int = 1  # Random latents per regularisation step (latent_ball_num_of_samples).
    locality_interval: int = 1  # Regularise every this many steps (locality_regularization_interval).
    locality_truncation_psi: float = 0.5  # Truncation of the random latents (PTI samples with psi 0.5).
    # --- LPIPS weights and reproducibility ------------------------------------
    lpips_backbone: str | None = None  # See the class docstring: None, a file, a directory or 'random'.
    lpips_min_resolution: int = 64  # Bilinearly upsample smaller images before LPIPS (deep layers need room).
    seed: int = 0  # Seeds w_avg sampling, latent noise, noise buffers and locality latents.

    def __post_init__(self):
        for name in (
            "w_steps",
            "wplus_steps",
            "pti_steps",
            "w_avg_samples",
            "locality_num_samples",
            "locality_interval",
            "lpips_min_resolution",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise _config_error(f"{name} must be a non-negative int, got {value!r}")
        for name in ("w_avg_samples", "locality_num_samples", "locality_interval", "lpips_min_resolution"):
            if getattr(self, name) < 1:
                raise _config_error(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in (
            "w_lr",
            "wplus_lr",
            "pti_lr",
            "initial_noise_factor",
            "noise_regularize_weight",
            "mse_weight",
            "wplus_pivot_weight",
            "pti_l2_weight",
            "pti_lpips_weight",
            "pti_stop_psnr",
            "locality_alpha",
            "locality_l2_weight",
            "locality_lpips_weight",
        ):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
                raise _config_error(f"{name} must be a number >= 0, got {value!r}")
        value = self.pti_lpips_threshold
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0):
            raise _config_error(f"pti_lpips_threshold must be None or a number >= 0, got {value!r}")
        for name in ("lr_rampup", "lr_rampdown", "noise_ramp_length", "locality_truncation_psi"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise _config_error(f"{name} must be in [0, 1], got {value!r}")
        if self.noise_ramp_length == 0:
            raise _config_error("noise_ramp_length must be > 0; set initial_noise_factor=0 to disable latent noise")
        for name in ("lpips_net", "pti_lpips_net"):
            if getattr(self, name) not in LPIPS_NETS:
                raise _config_error(f"{name} must be one of {LPIPS_NETS}, got {getattr(self, name)!r}")
        for name in ("lpips_max_resolution", "pti_lpips_max_resolution"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 16):
                raise _config_error(f"{name} must be None or an int >= 16, got {value!r}")
        if self.wplus_init not in WPLUS_INITS:
            raise _config_error(f"wplus_init must be one of {WPLUS_INITS}, got {self.wplus_init!r}")
        if self.pti_pivot not in PTI_PIVOTS:
            raise _config_error(f"pti_pivot must be one of {PTI_PIVOTS}, got {self.pti_pivot!r}")
        if self.lpips_backbone is not None and not isinstance(self.lpips_backbone, str):
            # Path objects are accepted for convenience and stored as str (the config must pickle as plain data).
            object.__setattr__(self, "lpips_backbone", str(self.lpips_backbone))
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise _config_error(f"seed must be an int, got {self.seed!r}")

    @property
    def effective_pti_lpips_threshold(self) -> float:
        """The LPIPS early-stop value PTI uses (0 = no LPIPS stop)."""
        if self.pti_lpips_threshold is not None:
            return float(self.pti_lpips_threshold)
        return PTI_LPIPS_THRESHOLDS.get(self.pti_lpips_net, 0.0)

    def to_dict(self) -> dict:
        """Plain-data form (str/int/float/bool/None values), as stored by `InversionResult.save`."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> InversionConfig:
        """Inverse of `to_dict`; unknown keys (from another version) raise `InversionError`.

        Retired fields (`_RETIRED_FIELDS`) that older files hold are dropped first.
        """
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in _RETIRED_FIELDS}
        return config_from_dict(cls, data, InversionError)


# Fields older files may hold that no longer mean anything: `allow_download` (inversion never downloads).
_RETIRED_FIELDS = ("allow_download",)


def _config_error(message: str) -> InversionError:
    return InversionError(message)
