"""`PipelineConfig`: every stage's config in one frozen dataclass.

Vary it with `dataclasses.replace(config, inversion_method='w+')` or, for a stage,
`dataclasses.replace(config, drag=dataclasses.replace(config.drag, max_steps=50))`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from align import AlignConfig, PasteConfig
from draggan import DragConfig
from inversion import InversionConfig
from pipeline.errors import PipelineError
from pipeline.video.config import VideoConfig

__all__ = [
    "PipelineConfig",
    "ALIGN_MODES",
    "INVERSION_METHODS",
    "VIDEO_FORMATS",
    "ALL_FACES",
    "AlignNames",
    "check_align_choice",
    "config_to_json",
    "lpips_nets_needed",
]

ALIGN_MODES = ("face", "box", "center")
INVERSION_METHODS = ("w", "w+", "pti")
VIDEO_FORMATS = (None, "mp4", "gif")
ALL_FACES = "all"  # a face number that means: edit every face that has points (`pipeline.group`)


@dataclass(frozen=True)
class AlignNames:
    """How a front end spells the alignment options in its messages.

    Attributes:
        align, box, face_index, face_preset: the option names (e.g. '--align' on the command line).
        choice: format of "option = value", with {name} and {value} (e.g. '{name} {value}').
    """

    align: str = "align_mode"
    box: str = "box"
    face_index: str = "face_index"
    face_preset: str = "face_preset"
    choice: str = "{name}={value!r}"

    def align_is(self, mode: str) -> str:
        return self.choice.format(name=self.align, value=mode)


def check_align_choice(
    align_mode: str,
    box,
    face_index,
    face_preset: str | None = None,
    names: AlignNames = AlignNames(),
    error: type[Exception] = PipelineError,
) -> None:
    """The one statement of how alignment mode, box, face number and face preset fit together.

    A box is given exactly when the mode is 'box'; a face number and a face preset only apply
    to the mode 'face'. The command line, the jobs file and `PipelineConfig` all check with it.

    Args:
        align_mode: 'face', 'box' or 'center'.
        box: the box (any non-None value counts as given).
        face_index: the face number, 'all', or None.
        face_preset: the face framing preset, or None.
        names: how the caller's user spells the options (for the message).
        error: the exception class to raise.

    Raises:
        error: the first rule broken, with a message in the caller's spelling.
    """
    if align_mode not in ALIGN_MODES:
        raise error(f"{names.align} must be one of {list(ALIGN_MODES)}, got {align_mode!r}")
    if box is not None and align_mode != "box":
        raise error(f"{names.box} needs {names.align_is('box')}")
    if align_mode == "box" and box is None:
        raise error(f"{names.align_is('box')} needs {names.box} x0,y0,x1,y1 (photo pixels)")
    if face_index is not None and align_mode != "face":
        raise error(f"{names.face_index} only applies to {names.align_is('face')}")
    if face_preset is not None and align_mode != "face":
        raise error(f"{names.face_preset} only applies to {names.align_is('face')}")


@dataclass(frozen=True)
class PipelineConfig:
    """How `pipeline.edit_photo` turns a photo and drag points into an edited photo."""

    # --- align -----------------------------------------------------------------------------
    align_mode: str = "face"  # 'face' (dlib + FFHQ crop), 'box' (needs `box`), 'center'
    box: tuple[float, float, float, float] | None = None  # (x0, y0, x1, y1) photo px, exclusive ends
    face_index: int | None = None  # which detected face (largest first); None = the largest
    align: AlignConfig = field(default_factory=AlignConfig)
    # --- invert ----------------------------------------------------------------------------
    inversion_method: str = "pti"  # 'w', 'w+' or 'pti' (W pivot + generator tuning, Roich et al.)
    inversion: InversionConfig = field(default_factory=InversionConfig)
    # --- drag ------------------------------------------------------------------------------
    drag: DragConfig = field(default_factory=DragConfig)
    mask_threshold: float = 0.5  # a crop pixel may move where the warped mask exceeds this
    # --- paste back ------------------------------------------------------------------------
    paste: PasteConfig = field(default_factory=PasteConfig)  # `paste.composite`: 'delta' or 'warp'
    debug_composite: bool = False  # keep the composite's field and weight (written as images)
    # --- run -------------------------------------------------------------------------------
    device: str = "auto"  # 'auto' (cuda > mps > cpu), 'cpu', 'cuda', 'cuda:N', 'mps'
    seed: int = 0  # seeds a forked torch RNG around the stages (the caller's RNG is
    # untouched); InversionConfig.seed / DragConfig.seed seed their own
    # stages, and the CLI's --seed sets all three
    deterministic: bool = False  # deterministic kernels (repeatable GPU runs; slower): common.device.deterministic
    use_cache: bool = True  # reuse a saved inversion of the same crop, generator and config
    cache_dir: str | None = None  # None = env DRAGGAN_CACHE_DIR or ~/.cache/draggan-pipeline/inversions
    video: str | None = None  # None, 'mp4' or 'gif': a video of the drag
    video_fps: int = 10  # frames per second of the video
    clip: VideoConfig = field(default_factory=VideoConfig)  # editing a clip (`pipeline.video`)
    # --- what the user chose -----------------------------------------------------------------
    user_options: tuple[str, ...] = ()  # 'stage.field' names the user set explicitly (the CLI fills it): the
    # model's own settings (pipeline.model_defaults) never override them,
    # nor any field that differs from its stage default

    def __post_init__(self) -> None:
        check_align_choice(self.align_mode, self.box, self.face_index)
        if self.align_mode == "box":
            box = self.box
            try:
                box = tuple(float(v) for v in box)
            except (TypeError, ValueError):
                raise PipelineError(f"box must be 4 numbers (x0, y0, x1, y1), got {self.box!r}") from None
            if len(box) != 4 or not all(map(math.isfinite, box)) or box[2] <= box[0] or box[3] <= box[1]:
                raise PipelineError(f"box must be (x0, y0, x1, y1) with x1 > x0 and y1 > y0, got {self.box!r}")
            object.__setattr__(self, "box", box)
        if self.face_index is not None and (
            isinstance(self.face_index, bool) or not isinstance(self.face_index, int) or self.face_index < 0
        ):
            raise PipelineError(f"face_index must be None or an int >= 0, got {self.face_index!r}")
        if self.inversion_method not in INVERSION_METHODS:
            raise PipelineError(f"inversion_method must be one of {INVERSION_METHODS}, got {self.inversion_method!r}")
        for name, cls in (
            ("align", AlignConfig),
            ("inversion", InversionConfig),
            ("drag", DragConfig),
            ("paste", PasteConfig),
        ):
            if not isinstance(getattr(self, name), cls):
                raise PipelineError(
                    f"PipelineConfig.{name} must be a {cls.__name__}, got {type(getattr(self, name)).__name__}"
                )
        if not (isinstance(self.mask_threshold, (int, float)) and 0 < self.mask_threshold < 1):
            raise PipelineError(f"mask_threshold must be in (0, 1), got {self.mask_threshold!r}")
        if not isinstance(self.device, str) or not (
            self.device in ("auto", "cpu", "cuda", "mps") or self.device.startswith("cuda:")
        ):
            raise PipelineError(f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {self.device!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise PipelineError(f"seed must be an int, got {self.seed!r}")
        if not isinstance(self.deterministic, bool):
            raise PipelineError(f"deterministic must be a bool, got {self.deterministic!r}")
        if not isinstance(self.debug_composite, bool):
            raise PipelineError(f"debug_composite must be a bool, got {self.debug_composite!r}")
        if not isinstance(self.use_cache, bool):
            raise PipelineError(f"use_cache must be a bool, got {self.use_cache!r}")
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", str(self.cache_dir))
        if self.video not in VIDEO_FORMATS:
            raise PipelineError(f"video must be None, 'mp4' or 'gif', got {self.video!r}")
        if isinstance(self.video_fps, bool) or not isinstance(self.video_fps, int) or not 1 <= self.video_fps <= 120:
            raise PipelineError(f"video_fps must be an int in [1, 120], got {self.video_fps!r}")
        object.__setattr__(self, "user_options", tuple(self.user_options))
        for name in self.user_options:
            stage, _, field_name = str(name).partition(".")
            stage_config = getattr(self, stage, None) if stage in ("align", "inversion", "drag", "paste") else None
            if stage_config is None or field_name not in {f.name for f in dataclasses.fields(stage_config)}:
                raise PipelineError(
                    f"user_options holds {name!r}, which is not an 'align.*', 'inversion.*', 'drag.*' or "
                    "'paste.*' field name"
                )


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def config_to_json(config: PipelineConfig) -> dict:
    """The config as plain JSON data (nested dicts of str/int/float/bool/None)."""
    return _json_safe(dataclasses.asdict(config))


def lpips_nets_needed(config: PipelineConfig) -> list[str]:
    """The LPIPS nets the inversion (and the reconstruction metric) of `config` will build.

    Args:
        config: the pipeline config (its method and inversion config say which nets).

    Returns:
        Net names ('vgg', 'alex', 'squeeze'), each once: the W / W+ projection's net, then
        PTI's when the method is 'pti' and it differs.
    """
    inv = config.inversion
    nets = [inv.lpips_net]
    if config.inversion_method == "pti":
        nets.append(inv.pti_lpips_net)
    return list(dict.fromkeys(nets))
