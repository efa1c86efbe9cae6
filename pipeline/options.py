"""The user's options, typed: what the command line and the editor's page let a user choose.

    options = UserOptions(align="box", box=(10, 20, 300, 310), drag_steps=80)
    config = config_from_options(options)      # the PipelineConfig, `user_options` filled

Both front ends build a `UserOptions` (the command line from its arguments, the editor from
the page's settings) and turn it into a `PipelineConfig` with `config_from_options`, so the
same choices give the same configuration wherever they are made. `UserOptions.to_argv` is the
equivalent `run_pipeline.py` command line, which report.json records for an editor edit.

None means "not set": the stage's default, or the model's own setting
(`pipeline.model_defaults.config_for_model`), applies.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from pipeline.config import ALL_FACES, INVERSION_METHODS, AlignNames, PipelineConfig, check_align_choice
from pipeline.errors import UsageError

__all__ = ["UserOptions", "ALL_FACES", "LPIPS_NETS", "CLI_NAMES", "config_from_options"]

LPIPS_NETS = ("vgg", "alex", "squeeze")
VIDEO_CHOICES = (None, "mp4", "gif")
COMPOSITES = ("warp", "delta")
# The options as the command line spells them: every message names the flag to change.
CLI_NAMES = AlignNames(
    align="--align", box="--box", face_index="--face-index", face_preset="--face-preset", choice="{name} {value}"
)

# The config fields ('stage.field') each option sets: the model's own defaults never override them.
_USER_FIELDS = {
    "steps": ("inversion.w_steps", "inversion.wplus_steps", "inversion.pti_steps"),
    "pti_steps": ("inversion.pti_steps",),
    "lpips_net": ("inversion.lpips_net", "inversion.pti_lpips_net"),
    "lpips_backbone": ("inversion.lpips_backbone",),
    "drag_steps": ("drag.max_steps",),
    "lr": ("drag.lr",),
    "stop_distance": ("drag.stop_distance",),
    "face_preset": ("align.eye_scale", "align.mouth_scale", "align.center_shift"),
}
# Drag options without a command-line flag (the editor's page sets them): DragConfig field names.
_DRAG_ONLY = ("w_space", "r1", "r2", "feature_res", "lambda_mask")
_CLIP_FIELDS = ("frame_steps", "shot_steps", "landmark_sigma", "layer_smoothing")  # VideoConfig's names


@dataclass(frozen=True)
class UserOptions:
    """Every option a user can set; None = not set (the default or the model's own setting)."""

    # --- alignment -----------------------------------------------------------------------------
    align: str = "face"  # 'face' (dlib + FFHQ crop), 'box' (needs `box`) or 'center'
    box: tuple[float, float, float, float] | None = None  # (x0, y0, x1, y1) photo px, for 'box'
    face_index: int | str | None = None  # face number (0 = largest), 'all', or None = the largest
    face_preset: str | None = None  # face framing (align.FACE_PRESETS); None = the model's
    # --- inversion ----------------------------------------------------------------------------
    inversion: str = "pti"  # 'w', 'w+' or 'pti'
    steps: int | None = None  # steps of every inversion stage
    pti_steps: int | None = None  # pivotal-tuning steps (overrides `steps` for PTI)
    lpips_net: str | None = None  # 'vgg', 'alex' or 'squeeze' for every inversion stage
    lpips_backbone: str | None = None  # local LPIPS backbone file or folder; 'random' for smoke tests
    locality: bool = False  # PTI locality regulariser
    no_cache: bool = False  # neither read nor write the inversion cache
    cache_dir: str | None = None  # inversion cache folder; None = env DRAGGAN_CACHE_DIR or the default
    # --- drag ---------------------------------------------------------------------------------
    drag_steps: int | None = None  # maximum drag steps
    lr: float | None = None  # drag learning rate
    stop_distance: float | None = None  # stop when every handle is this close (generator px)
    w_space: str | None = None  # 'w' or 'w+' (no command-line flag)
    r1: float | None = None  # motion-supervision radius, px of a 512-px image (no flag)
    r2: float | None = None  # tracking radius, px of a 512-px image (no flag)
    feature_res: int | None = None  # supervising block resolution (no flag)
    lambda_mask: float | None = None  # weight of the fixed-region term (no flag)
    # --- paste back ---------------------------------------------------------------------------
    composite: str | None = None  # 'warp' (move the photo's pixels) or 'delta' (add the change); None = default
    debug_composite: bool = False  # write the composite's displacement field and weight as images
    # --- run and outputs ----------------------------------------------------------------------
    device: str = "auto"  # 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'
    seed: int = 0  # seeds the run, the inversion and the drag
    deterministic: bool = False  # deterministic GPU kernels (repeatable, slower)
    video: str | None = None  # None, 'mp4' or 'gif'
    fps: int = 10  # video frames per second
    max_photo_pixels: int | None = None  # refuse bigger photos; None = align's default (no flag)
    frame_steps: int | None = None  # a clip: W+ steps per frame (None = VideoConfig's)
    shot_steps: int | None = None  # a clip: W+ steps for a run's first frame
    landmark_sigma: float | None = None  # a clip: landmark smoothing, frames
    layer_smoothing: float | None = None  # a clip: blend of the composite's layers with the previous frame's

    def __post_init__(self) -> None:
        _check_choice("--align", self.align, ("face", "box", "center"))
        if self.box is not None:
            object.__setattr__(self, "box", _box(self.box))
        if self.face_index is not None and self.face_index != ALL_FACES:
            _check_count("--face-index", self.face_index, "a whole number >= 0 or 'all'")
        check_align_choice(self.align, self.box, self.face_index, self.face_preset, names=CLI_NAMES, error=UsageError)
        _check_choice("--inversion", self.inversion, INVERSION_METHODS)
        _check_choice("--lpips-net", self.lpips_net, (None, *LPIPS_NETS))
        _check_choice("--video", self.video, VIDEO_CHOICES)
        _check_choice("--composite", self.composite, (None, *COMPOSITES))
        if not isinstance(self.debug_composite, bool):
            raise UsageError(f"--debug-composite is a switch (True or False), got {self.debug_composite!r}")
        counts = (
            ("--steps", self.steps),
            ("--pti-steps", self.pti_steps),
            ("--drag-steps", self.drag_steps),
            ("--frame-steps", self.frame_steps),
            ("--shot-steps", self.shot_steps),
        )
        for flag, value in counts:
            if value is not None:
                _check_count(flag, value, "a whole number >= 0")
        numbers = (
            ("--lr", self.lr),
            ("--stop-distance", self.stop_distance),
            ("--landmark-sigma", self.landmark_sigma),
            ("--layer-smoothing", self.layer_smoothing),
        )
        for flag, value in numbers:
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise UsageError(f"{flag} must be a number, got {value!r}")
        for flag, value in (("--seed", self.seed), ("--fps", self.fps)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{flag} must be a whole number, got {value!r}")
        if self.max_photo_pixels is not None:
            _check_count("max_photo_pixels", self.max_photo_pixels, "a whole number >= 0")

    @property
    def all_faces(self) -> bool:
        """`face_index` 'all': every face that has points is edited (`pipeline.group`)."""
        return self.face_index == ALL_FACES

    def to_argv(self) -> list[str]:
        """The `run_pipeline.py` options that give these options (without --image / --points).

        Options without a flag (w_space, r1, r2, feature_res, lambda_mask, max_photo_pixels)
        are left out.
        """
        argv = ["--align", self.align, "--inversion", self.inversion, "--device", self.device, "--seed", str(self.seed)]
        if self.video is not None:
            argv += ["--video", self.video]
        for flag, value in (
            ("--box", None if self.box is None else ",".join(_number(v) for v in self.box)),
            ("--face-index", self.face_index),
            ("--face-preset", self.face_preset),
            ("--steps", self.steps),
            ("--pti-steps", self.pti_steps),
            ("--drag-steps", self.drag_steps),
            ("--lr", self.lr),
            ("--stop-distance", self.stop_distance),
            ("--lpips-net", self.lpips_net),
            ("--lpips-backbone", self.lpips_backbone),
            ("--cache-dir", self.cache_dir),
            ("--fps", None if self.fps == 10 else self.fps),
            ("--composite", self.composite),
            ("--frame-steps", self.frame_steps),
            ("--shot-steps", self.shot_steps),
            ("--landmark-sigma", self.landmark_sigma),
            ("--layer-smoothing", self.layer_smoothing),
        ):
            if value is not None:
                argv += [flag, _number(value) if isinstance(value, float) else str(value)]
        switches = (
            ("--locality", self.locality),
            ("--no-cache", self.no_cache),
            ("--deterministic", self.deterministic),
            ("--debug-composite", self.debug_composite),
        )
        argv += [flag for flag, on in switches if on]
        return argv

    def user_fields(self) -> tuple[str, ...]:
        """The config fields ('stage.field') these options set: model defaults never override them."""
        given = [option for option in _USER_FIELDS if getattr(self, option) is not None]
        names = [name for option in given for name in _USER_FIELDS[option]]
        return (*names, *(f"drag.{name}" for name in _DRAG_ONLY if getattr(self, name) is not None))


def config_from_options(options: UserOptions) -> PipelineConfig:
    """The `PipelineConfig` the options describe, before the model's own settings.

    `user_options` lists the fields the user set (`UserOptions.user_fields`), which
    `pipeline.model_defaults.config_for_model` then leaves alone.

    Args:
        options: the user's options.

    Returns:
        The configuration; `face_index` is None for 'all' (the caller edits every face).

    Raises:
        DragPipelineError: a value a stage's config refuses (e.g. a negative radius).
    """
    from align import AlignConfig, PasteConfig
    from draggan import DragConfig
    from inversion import InversionConfig
    from pipeline.video.config import VideoConfig

    inv_changes: dict = {"seed": options.seed}
    if options.steps is not None:
        inv_changes.update(w_steps=options.steps, wplus_steps=options.steps, pti_steps=options.steps)
    if options.pti_steps is not None:
        inv_changes["pti_steps"] = options.pti_steps
    if options.lpips_net is not None:
        inv_changes.update(lpips_net=options.lpips_net, pti_lpips_net=options.lpips_net)
    if options.lpips_backbone is not None:
        inv_changes["lpips_backbone"] = options.lpips_backbone
    if options.locality:
        inv_changes["locality_regularization"] = True

    drag_fields = {"max_steps": options.drag_steps, "lr": options.lr, "stop_distance": options.stop_distance}
    drag_fields |= {name: getattr(options, name) for name in _DRAG_ONLY}
    drag = DragConfig(seed=options.seed, **{k: v for k, v in drag_fields.items() if v is not None})

    clip_fields = {name: getattr(options, name) for name in _CLIP_FIELDS}
    align = AlignConfig.from_preset(options.face_preset) if options.face_preset else AlignConfig()
    if options.max_photo_pixels is not None:
        align = dataclasses.replace(align, max_photo_pixels=int(options.max_photo_pixels))
    return PipelineConfig(
        align_mode=options.align,
        box=options.box,
        face_index=None if options.all_faces else options.face_index,
        align=align,
        user_options=options.user_fields(),
        inversion_method=options.inversion,
        inversion=InversionConfig(**inv_changes),
        drag=drag,
        device=options.device,
        seed=options.seed,
        deterministic=options.deterministic,
        use_cache=not options.no_cache,
        cache_dir=options.cache_dir,
        video=options.video,
        video_fps=options.fps,
        paste=PasteConfig() if options.composite is None else PasteConfig(composite=options.composite),
        debug_composite=options.debug_composite,
        clip=VideoConfig(**{k: v for k, v in clip_fields.items() if v is not None}),
    )


def _check_choice(flag: str, value, choices: tuple) -> None:
    if value not in choices:
        shown = ", ".join("none" if c is None else str(c) for c in choices)
        raise UsageError(f"{flag} must be one of {shown}, got {value!r}")


def _check_count(flag: str, value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UsageError(f"{flag} must be {what}, got {value!r}")


def _box(value) -> tuple[float, float, float, float]:
    try:
        box = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        box = ()
    if len(box) != 4 or not all(map(math.isfinite, box)):
        raise UsageError(f"--box must be 4 numbers x0,y0,x1,y1, got {value!r}")
    return box  # type: ignore[return-value]


def _number(value: float) -> str:
    """A float as short text that reads back as the same float."""
    text = f"{value:g}"
    return text if float(text) == float(value) else repr(float(value))
