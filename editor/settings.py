"""The editor's settings -> the `PipelineConfig` the command line would build for the same choices.

The page's settings and the server's options become `pipeline.options.UserOptions`, the typed
options the command line builds from its arguments too, and `pipeline.options.config_from_options`
turns them into the configuration; so an edit made in the browser and the same edit made on the
command line run with identical configurations. `report.json` records the equivalent command
(`UserOptions.to_argv`); the drag options the command line has no flag for (W / W+, r1, r2,
feature block, lambda) are set in the configuration but not in that command.
"""

from __future__ import annotations

from dataclasses import dataclass

import pipeline as pl
from editor.errors import EditorError
from pipeline import PipelineConfig
from pipeline.errors import UsageError
from pipeline.options import UserOptions, config_from_options

__all__ = ["ADVANCED_LABELLED", "EditorSettings", "ServerOptions", "advanced_labels"]

# The advanced drag settings whose label says what a blank field means (see `advanced_labels`).
ADVANCED_LABELLED = ("lr", "drag_steps", "stop_distance", "r1", "r2", "feature_res", "lambda_mask")


@dataclass(frozen=True)
class ServerOptions:
    """Options fixed when the server starts (they apply to every tab)."""

    device: str = "auto"  # 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'
    lpips_backbone: str | None = None  # local LPIPS backbone (offline); 'random' for smoke tests
    lpips_net: str | None = None  # None = the pipeline's defaults
    cache_dir: str | None = None  # inversion cache folder; None = the pipeline's default
    no_cache: bool = False  # never read or write the inversion cache
    max_photo_pixels: int | None = None  # refuse bigger photos (from the file header); None = align's default
    offload_after_s: float | None = 300.0  # move an idle tab's tuned generator to the CPU after this long
    # without a request (back on its next drag); None = never
    max_models: int = 2  # loaded checkpoints kept, the least recently picked dropped first (injected ones stay)
    stop_wait_s: float = 30.0  # how long closing a tab waits for its running drag to stop (one step)

    def __post_init__(self):
        if self.offload_after_s is not None and not self.offload_after_s >= 0:
            raise EditorError(f"offload_after_s must be >= 0 seconds or None, got {self.offload_after_s!r}")
        if not (isinstance(self.max_models, int) and self.max_models >= 1):
            raise EditorError(f"max_models must be a whole number >= 1, got {self.max_models!r}")
        if not self.stop_wait_s >= 0:
            raise EditorError(f"stop_wait_s must be >= 0 seconds, got {self.stop_wait_s!r}")


@dataclass(frozen=True)
class EditorSettings:
    """What a tab chose in the page; None = the pipeline's default."""

    align_mode: str = "face"  # 'face', 'box', 'center'
    box: tuple[float, float, float, float] | None = None  # photo px (x0, y0, x1, y1) for 'box'
    face_index: int | None = None  # None = the largest face
    inversion_method: str = "pti"  # 'w', 'w+', 'pti'
    steps: int | None = None  # steps of each inversion stage
    drag_steps: int | None = None  # drag step cap
    lr: float | None = None  # drag learning rate
    stop_distance: float | None = None  # generator px
    w_space: str | None = None  # 'w' or 'w+'
    r1: float | None = None  # motion-supervision radius (px of a 512-px image)
    r2: float | None = None  # tracking radius (px of a 512-px image)
    feature_res: int | None = None  # supervising block resolution
    lambda_mask: float | None = None  # weight of the fixed-region term
    seed: int = 0

    def to_options(self, server: ServerOptions) -> UserOptions:
        """The typed options of these settings and the server's (the editor always records a video).

        A box or face number that does not apply to the chosen alignment mode is left out, as the
        page keeps them while the user switches modes.

        Raises:
            EditorError: a setting the options refuse (the message says which).
        """
        try:
            return UserOptions(
                align=self.align_mode,
                box=self.box if self.align_mode == "box" else None,
                face_index=self.face_index if self.align_mode == "face" else None,
                inversion=self.inversion_method,
                steps=self.steps,
                lpips_net=server.lpips_net,
                lpips_backbone=server.lpips_backbone,
                no_cache=server.no_cache,
                cache_dir=server.cache_dir,
                drag_steps=self.drag_steps,
                lr=self.lr,
                stop_distance=self.stop_distance,
                w_space=self.w_space,
                r1=self.r1,
                r2=self.r2,
                feature_res=self.feature_res,
                lambda_mask=self.lambda_mask,
                device=server.device,
                seed=int(self.seed),
                video="mp4",
                max_photo_pixels=server.max_photo_pixels,
            )
        except UsageError as exc:
            raise EditorError(f"invalid setting: {exc}") from None

    def to_config(self, server: ServerOptions) -> PipelineConfig:
        """The `PipelineConfig` for these settings (`pipeline.options.config_from_options`).

        Raises:
            EditorError: an option the typed options refuse.
            DragPipelineError: a value a stage's config refuses (e.g. a negative radius).
        """
        return config_from_options(self.to_options(server))


def advanced_labels(model, server: ServerOptions = ServerOptions()) -> dict[str, str]:
    """The advanced settings' labels, each naming the value a blank field gets with `model`.

    The defaults are those `pipeline.config_for_model` gives the model (the small-model radii
    of face-64 are not FFHQ-512's), resolved where the drag resolves them (feature block, stop
    distance), so the page never shows another model's numbers.

    Args:
        model: the `pipeline.LoadedModel` the tab edits with (its G's `img_resolution` and
            `metadata`, and its registry entry, are read).
        server: the server's options (the page's defaults are built with them).

    Returns:
        {name in `ADVANCED_LABELLED`: label}.
    """
    info = None if model.resolved is None else model.resolved.info
    drag = pl.config_for_model(EditorSettings().to_config(server), model.G, info).drag
    size = model.size
    return {
        "lr": f"Drag lr (blank = {drag.lr:g})",
        "drag_steps": f"Max drag steps (blank = {drag.max_steps})",
        "stop_distance": f"Stop distance, px (blank = {pl.resolve_stop_distance(drag, size):g})",
        "r1": f"r1 (px at 512; blank = {drag.r1:g})",
        "r2": f"r2 (px at 512; blank = {drag.r2:g})",
        "feature_res": f"Feature block resolution (blank = {pl.resolve_feature_res(drag, size)})",
        "lambda_mask": f"Mask weight lambda (blank = {drag.lambda_mask:g})",
    }
