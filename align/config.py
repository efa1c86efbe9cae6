"""Configuration of the alignment and paste-back stage.

Both configs are frozen dataclasses validated in `__post_init__`; vary them with
`dataclasses.replace(config, field=value)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from align.errors import AlignError

__all__ = ["AlignConfig", "PasteConfig", "FACE_PRESETS", "FACE_PRESET_FIELDS", "face_preset_values"]

# Face-crop presets: (eye_scale, mouth_scale, center_shift), the multipliers of the
# FFHQ quad (see `align.geometry.ffhq_quad`).
#   ffhq: NVlabs ffhq-dataset `recreate_aligned_images` (download_ffhq.py), also
#         used by PTI / e4e / STIT: x *= max(|eye_to_eye| * 2.0, |eye_to_mouth| * 1.8),
#         c = eye_avg + eye_to_mouth * 0.1.
#   utkface: the tight UTKFace "crop_part1" framing (200 px crops), measured with dlib on
#         387 of those crops: FFHQ's quad would be ~315 px wide on them, this one ~173 px,
#         so 91% of quads fit inside the crop. The project's small face generator is
#         trained on crops made with this preset, so photos aligned with it at inference
#         land in that generator's domain.
FACE_PRESETS: dict[str, tuple[float, float, float]] = {
    "ffhq": (2.0, 1.8, 0.1),
    "utkface": (1.1, 0.99, 0.5),
}
# The AlignConfig fields a face preset sets, in the order of the FACE_PRESETS tuples.
FACE_PRESET_FIELDS = ("eye_scale", "mouth_scale", "center_shift")

_DETECTORS = ("hog", "cnn")
_PAD_MODES = ("reflect_blur", "reflect", "constant")
_INTERPOLATIONS = ("lanczos", "cubic", "linear")
_PASTE_MODES = ("delta", "alpha")
_COMPOSITES = ("delta", "warp")
_FLOWS = ("dis", "farneback", "handles")


def _finite(value) -> bool:
    # A real, finite number: a str or None is refused with AlignError, not a TypeError.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def face_preset_values(name: str) -> dict[str, float]:
    """The AlignConfig fields a named face-crop preset sets.

    Args:
        name: a key of `FACE_PRESETS` ('ffhq', 'utkface').

    Returns:
        {'eye_scale': ..., 'mouth_scale': ..., 'center_shift': ...} (`FACE_PRESET_FIELDS`).

    Raises:
        AlignError: an unknown preset.
    """
    if name not in FACE_PRESETS:
        raise AlignError(f"unknown face preset {name!r}; use one of {sorted(FACE_PRESETS)}")
    return dict(zip(FACE_PRESET_FIELDS, FACE_PRESETS[name]))


@dataclass(frozen=True)
class AlignConfig:
    """How a photo is turned into a generator-sized crop.

    Face fields apply to `align_face` / `align_landmarks`, box fields to `align_box` /
    `align_center`; the resampling fields apply to all of them.
    """

    # --- face crop geometry (FFHQ quad; see FACE_PRESETS) ---
    eye_scale: float = 2.0  # half crop side >= eye_scale * |eye_to_eye|
    mouth_scale: float = 1.8  # half crop side >= mouth_scale * |eye_to_mouth|
    center_shift: float = 0.1  # crop centre = eye_avg + center_shift * eye_to_mouth

    # --- face detection (dlib) ---
    detector: str = "hog"  # 'hog' (frontal HOG, fast) or 'cnn' (mmod_human_face_detector.dat, slow on CPU)
    detect_max_pixels: int = 1_000_000  # the detector sees a copy downscaled to at most this many pixels
    # Up to this many 2x upsamplings of small photos, each only while the detection image
    # stays within detect_max_pixels (HOG finds faces of ~80 px, ~40 px after one upsampling).
    detect_upsample: int = 1

    # --- box / centre crops (objects) ---
    box_margin: float = 0.1  # added on each side of a user box, as a fraction of its width / height
    # Width / height of the generator's content inside its square output, e.g. 4/3 for LSUN
    # car (512x384 inside 512x512, StyleGAN2 create_lsun_wide); the bars above and below are black.
    content_aspect: float = 1.0

    # --- resampling ---
    # Beyond the photo border: 'reflect_blur' (FFHQ: mirror, blur, fade to the median
    # colour), 'reflect' (mirror) or 'constant' (black).
    pad_mode: str = "reflect_blur"
    interpolation: str = "lanczos"  # 'lanczos' (Lanczos 8x8), 'cubic' or 'linear'
    antialias: bool = True  # low-pass before a shrinking warp (integer block average + Gaussian)
    max_photo_pixels: int = 100_000_000  # larger photos are refused with PhotoError (memory guard)

    def __post_init__(self) -> None:
        for name in ("eye_scale", "mouth_scale"):
            value = getattr(self, name)
            if not (_finite(value) and value > 0):
                raise AlignError(f"AlignConfig.{name} must be a positive number, got {value!r}")
        if not _finite(self.center_shift):
            raise AlignError(f"AlignConfig.center_shift must be finite, got {self.center_shift!r}")
        if self.detector not in _DETECTORS:
            raise AlignError(f"AlignConfig.detector must be one of {_DETECTORS}, got {self.detector!r}")
        if not (isinstance(self.detect_max_pixels, int) and self.detect_max_pixels >= 10_000):
            raise AlignError(f"AlignConfig.detect_max_pixels must be an int >= 10000, got {self.detect_max_pixels!r}")
        if not (isinstance(self.detect_upsample, int) and 0 <= self.detect_upsample <= 3):
            raise AlignError(f"AlignConfig.detect_upsample must be an int in 0..3, got {self.detect_upsample!r}")
        if not (_finite(self.box_margin) and 0 <= self.box_margin <= 10):
            raise AlignError(f"AlignConfig.box_margin must be in [0, 10], got {self.box_margin!r}")
        if not (_finite(self.content_aspect) and 0.1 <= self.content_aspect <= 10):
            raise AlignError(
                f"AlignConfig.content_aspect must be in [0.1, 10] (width / height), got {self.content_aspect!r}"
            )
        if self.pad_mode not in _PAD_MODES:
            raise AlignError(f"AlignConfig.pad_mode must be one of {_PAD_MODES}, got {self.pad_mode!r}")
        if self.interpolation not in _INTERPOLATIONS:
            raise AlignError(f"AlignConfig.interpolation must be one of {_INTERPOLATIONS}, got {self.interpolation!r}")
        if not isinstance(self.antialias, bool):
            raise AlignError(f"AlignConfig.antialias must be a bool, got {self.antialias!r}")
        if not (isinstance(self.max_photo_pixels, int) and self.max_photo_pixels > 0):
            raise AlignError(f"AlignConfig.max_photo_pixels must be a positive int, got {self.max_photo_pixels!r}")

    @classmethod
    def from_preset(cls, name: str) -> AlignConfig:
        """The default config with the face-crop multipliers of a named preset.

        Args:
            name: a key of `FACE_PRESETS` ('ffhq', 'utkface').

        Returns:
            AlignConfig with `eye_scale`, `mouth_scale`, `center_shift` set.

        Raises:
            AlignError: an unknown preset.
        """
        return cls(**face_preset_values(name))


@dataclass(frozen=True)
class PasteConfig:
    """How an edited crop is put back into the photo (`align.composite_warp` or `align.paste_back`).

    Lengths are fractions of the crop size so that one config fits 256 to 1024 px crops.
    """

    # 'delta': photo += mask * (edited - reconstruction): keeps the photo's own detail and
    # colours (best for appearance edits and small moves); 'alpha': photo * (1 - mask) +
    # edited * mask: replaces the pixels (avoids ghosts of the old content after big moves).
    mode: str = "delta"
    # A crop pixel counts as edited where the smoothed |edited - reconstruction| exceeds
    # this on any channel, in 0-255 levels.
    threshold: float = 8.0
    diff_sigma: float = 1.0  # Gaussian sigma (crop px) applied to the difference first, against GAN noise; 0 = off
    dilate: float = 0.01  # the edit mask grows by this fraction of the crop size (5 px at 512)
    feather: float = 0.03  # then fades to 0 over this fraction of the crop size (15 px at 512)

    # --- which composite ---
    # 'warp': `align.composite_warp` moves the photo's own pixels by the edit's displacement
    # field and adds the appearance residual; 'delta': `paste_back` (the `mode` above). 'warp'
    # measured better on portraits (README, "Putting the edit back into the photo").
    composite: str = "warp"
    # --- 'warp' only ---
    # Dense field: 'dis' / 'farneback' (OpenCV optical flow, no learned weights) or 'handles'
    # (only the drag's handle correspondences, spread smoothly).
    flow: str = "dis"
    flow_min_size: int = 256  # smaller crops are enlarged by an integer factor to this size for the flow
    field_sigma: float = 0.02  # Gaussian smoothing of the field, fraction of the crop size; 0 = off
    handle_sigma: float = 0.15  # reach of each handle correspondence, fraction of the crop size
    motion_threshold: float = 0.005  # a pixel moves where |field| exceeds this fraction of the crop size
    border: float = 0.04  # the weight is 0 within this fraction of the crop size of the crop's border
    # With the drag's handles known: the weight is 1 within this fraction of the crop size of a
    # handle's path and 0 beyond twice that; 0 = no limit.
    locality: float = 0.2
    residual: float = 1.0  # gain of the appearance residual (edited - warped reconstruction), in [0, 1]
    # Only residual stronger than this (smoothed, 0-255 levels) is added, fading in over as much
    # again: what motion cannot explain (teeth, a new shadow) passes, the generator's blur does not.
    residual_threshold: float = 20.0

    def __post_init__(self) -> None:
        if self.composite not in _COMPOSITES:
            raise AlignError(f"PasteConfig.composite must be one of {_COMPOSITES}, got {self.composite!r}")
        if self.flow not in _FLOWS:
            raise AlignError(f"PasteConfig.flow must be one of {_FLOWS}, got {self.flow!r}")
        if isinstance(self.flow_min_size, bool) or not isinstance(self.flow_min_size, int) or self.flow_min_size < 0:
            raise AlignError(f"PasteConfig.flow_min_size must be an int >= 0, got {self.flow_min_size!r}")
        for name in ("field_sigma", "handle_sigma", "motion_threshold", "border", "locality"):
            value = getattr(self, name)
            if not (_finite(value) and 0 <= value <= 0.5):
                raise AlignError(f"PasteConfig.{name} must be a fraction of the crop size in [0, 0.5], got {value!r}")
        if not (_finite(self.residual) and 0 <= self.residual <= 1):
            raise AlignError(f"PasteConfig.residual must be a gain in [0, 1], got {self.residual!r}")
        if not (_finite(self.residual_threshold) and 0 <= self.residual_threshold < 255):
            raise AlignError(f"PasteConfig.residual_threshold must be in [0, 255), got {self.residual_threshold!r}")
        if self.handle_sigma <= 0:
            raise AlignError("PasteConfig.handle_sigma must be > 0 (a fraction of the crop size, e.g. 0.08)")
        if self.mode not in _PASTE_MODES:
            raise AlignError(f"PasteConfig.mode must be one of {_PASTE_MODES}, got {self.mode!r}")
        if not (_finite(self.threshold) and 0 <= self.threshold < 255):
            raise AlignError(f"PasteConfig.threshold must be in [0, 255), got {self.threshold!r}")
        if not (_finite(self.diff_sigma) and 0 <= self.diff_sigma <= 20):
            raise AlignError(f"PasteConfig.diff_sigma must be in [0, 20], got {self.diff_sigma!r}")
        for name in ("dilate", "feather"):
            value = getattr(self, name)
            if not (_finite(value) and 0 <= value <= 0.5):
                raise AlignError(f"PasteConfig.{name} must be a fraction of the crop size in [0, 0.5], got {value!r}")
