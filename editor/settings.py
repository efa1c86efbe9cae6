"""The editor's settings -> the `PipelineConfig` the command line would build for the same choices.

The settings are turned into `run_pipeline.py` arguments and parsed by the CLI's own parser
(`pipeline.cli.main.build_parser` / `config_from_args`), so an edit made in the browser and the
same edit made on the command line run with identical configurations; `report.json` records
that command. Drag options the CLI has no flag for (W / W+, r1, r2, feature block, lambda)
are then set on the `DragConfig`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pipeline import PipelineConfig
from pipeline.cli.main import build_parser, config_from_args

__all__ = ["EditorSettings", "ServerOptions"]


@dataclass(frozen=True)
class ServerOptions:
    """Options fixed when the server starts (they apply to every tab)."""

    device: str = "auto"  # 'auto', 'cpu', 'cuda', 'cuda:N', 'mps'
    lpips_backbone: str | None = None  # local LPIPS backbone (offline); 'random' for smoke tests
    lpips_net: str | None = None  # None = the pipeline's defaults
    cache_dir: str | None = None  # inversion cache folder; None = the pipeline's default
    no_cache: bool = False  # never read or write the inversion cache
    max_photo_pixels: int | None = None  # refuse bigger photos (from the file header); None = align's default


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

    def cli_args(self, server: ServerOptions) -> list[str]:
        """The `run_pipeline.py` options for these settings (without --image / --points)."""
        args = [
            "--align",
            self.align_mode,
            "--inversion",
            self.inversion_method,
            "--device",
            server.device,
            "--seed",
            str(int(self.seed)),
            "--video",
            "mp4",
        ]
        if self.align_mode == "box" and self.box is not None:
            args += ["--box", ",".join(f"{v:g}" for v in self.box)]
        if self.align_mode == "face" and self.face_index is not None:
            args += ["--face-index", str(int(self.face_index))]
        for flag, value in (
            ("--steps", self.steps),
            ("--drag-steps", self.drag_steps),
            ("--lr", self.lr),
            ("--stop-distance", self.stop_distance),
            ("--lpips-net", server.lpips_net),
            ("--lpips-backbone", server.lpips_backbone),
            ("--cache-dir", server.cache_dir),
        ):
            if value is not None:
                args += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
        if server.no_cache:
            args.append("--no-cache")
        return args

    def to_config(self, server: ServerOptions) -> PipelineConfig:
        """The `PipelineConfig` for these settings.

        Raises:
            ValueError: an option the CLI parser or a config refuses (the message says which).
        """
        try:
            args = build_parser().parse_args(self.cli_args(server))
        except Exception as exc:  # noqa: BLE001 - argparse reports bad values as its own error type
            raise ValueError(f"invalid setting: {exc}") from None
        config = config_from_args(args)
        changes = {
            k: v
            for k, v in (
                ("w_space", self.w_space),
                ("r1", self.r1),
                ("r2", self.r2),
                ("feature_res", self.feature_res),
                ("lambda_mask", self.lambda_mask),
            )
            if v is not None
        }
        if changes:  # recorded as the user's choice, so the model's own defaults never override them
            config = dataclasses.replace(
                config,
                drag=dataclasses.replace(config.drag, **changes),
                user_options=(*config.user_options, *(f"drag.{k}" for k in changes)),
            )
        if server.max_photo_pixels is not None:
            config = dataclasses.replace(
                config, align=dataclasses.replace(config.align, max_photo_pixels=int(server.max_photo_pixels))
            )
        return config
