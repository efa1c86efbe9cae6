"""Per-step drag time in the editor vs `draggan.drag` alone, on the same model and points.

    python -m benchmarks.editor [--checkpoint random-64] [--steps 300] [--repeats 3] [--photo PATH]

Prints a table; the ratio is editor / plain (target <= 1.10). The editor's drag renders a
preview frame every max_steps / `editor.session.PREVIEW_FRAMES` steps, streams it from
another thread and keeps the video's latent snapshots (rendered after the drag, when the
download files are written); the page composites each frame it shows into the photo
(`DragUpdate.photo`, `pipeline.paste_edit`, within the time budget of `editor.preview`) and
draws the canvas and the crop view (`editor.view.drag_frame`) in its own thread while the drag
goes on (Gradio's PNG encoding not counted). The
editor runs twice: with the frames composited (what the page does) and without. The plain
run is `pipeline.drag_crop` with no frames, no snapshots and no callback.
All run with a stop distance of 0 so every run does exactly --steps steps. The edit starts
from a seed (the photo is then the generator's image) or, with --photo, from that photo
(centre crop, a 2-step W inversion): the composite then works at the photo's resolution.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from types import SimpleNamespace

import numpy as np

import pipeline as pl
from editor import view
from editor.app import EditorApp
from editor.settings import EditorSettings, ServerOptions
from editor.state import Clicks

PAGE = SimpleNamespace(canvas="canvas", crop_view="crop_view", status="status")


def _show(session, update) -> bool:
    """What the page computes for a preview frame (`editor.view.drag_frame`); True if it was composited."""
    return "canvas" in view.drag_frame(PAGE, session, update)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.editor", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="random-64")
    p.add_argument("--steps", type=int, default=300)  # DragConfig.max_steps: a preview every 5 steps
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--photo", default=None, help="start from this photo (centre crop) instead of seed 0")
    args = p.parse_args(argv)

    server = ServerOptions(device=args.device, lpips_backbone="random", lpips_net="squeeze", no_cache=True)
    with tempfile.TemporaryDirectory() as tmp:
        app = EditorApp(server, checkpoint=args.checkpoint, temp_dir=tmp, allow_download=False)
        session = app.session("bench")
        if args.photo is None:
            session.start_from_seed(0, 0.7)
        else:
            session.settings = EditorSettings(align_mode="center", inversion_method="w", steps=2)
            session.set_photo(args.photo)
            session.invert()
        r = session.model.size
        session.settings = dataclasses.replace(session.settings, drag_steps=args.steps, stop_distance=0.0)
        handles = np.array([[0.4 * r, 0.5 * r]])
        targets = np.array([[0.6 * r, 0.5 * r]])
        config = session._drag_config()
        plain_config = dataclasses.replace(config, video=None)
        times: dict[str, list[float]] = {"plain": [], "bare": [], "composited": []}
        composites = 0
        for _ in range(args.repeats):  # interleaved, so all see the same machine load
            t = time.perf_counter()
            pl.drag_crop(session.G_edit, session.history[0].ws, handles, targets, None, plain_config, progress=False)
            times["plain"].append((time.perf_counter() - t) / args.steps)
            for run in ("bare", "composited"):
                session.history = session.history[:1]
                session.clicks = Clicks(
                    ((float(handles[0, 0]), float(handles[0, 1])), (float(targets[0, 0]), float(targets[0, 1])))
                )
                shown = [run == "bare" or _show(session, u) for u in session.drag() if not u.done]
                composites = sum(shown) if run == "composited" else composites
                frames = len(shown)
                # The drag itself, previews included; writing the download files afterwards is not a step.
                times[run].append(session.seconds["drag"] / args.steps)
        session_photo = session.photo.shape
        app.close()
    plain, bare, composited = (statistics.median(times[k]) for k in ("plain", "bare", "composited"))
    start = "seed 0" if args.photo is None else f"{args.photo} ({session_photo[1]}x{session_photo[0]})"
    print(
        f"model {args.checkpoint} ({r} px), {start}, {args.steps} steps, median of {args.repeats}, device {args.device}"
    )
    print(f"{'run':<40}{'ms/step':>10}{'/ plain':>10}")
    print(f"{'draggan.drag (pipeline.drag_crop)':<40}{plain * 1e3:>10.2f}{1.0:>10.3f}")
    print(f"{'editor, previews not composited':<40}{bare * 1e3:>10.2f}{bare / plain:>10.3f}")
    print(
        f"{'editor, previews composited (the page)':<40}{composited * 1e3:>10.2f}{composited / plain:>10.3f}"
        f"   ({composites} of {frames} previews composited; target <= 1.10)"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
