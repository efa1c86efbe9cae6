"""Per-step drag time in the editor vs `draggan.drag` alone, on the same model and points.

    python -m benchmarks.editor [--checkpoint random-64] [--steps 300] [--repeats 3]

Prints a table; the ratio is editor / plain (target <= 1.10). The editor's drag renders a
preview frame every max_steps / `editor.session.PREVIEW_FRAMES` steps, streams it from
another thread and keeps the video's latent snapshots (rendered after the drag, when the
download files are written); the plain run is `pipeline.drag_crop` with no frames, no
snapshots and no callback.
Both run with a stop distance of 0 so every run does exactly --steps steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time

import numpy as np

import pipeline as pl
from editor.app import EditorApp
from editor.settings import EditorSettings, ServerOptions
from editor.state import Clicks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.editor", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default="random-64")
    p.add_argument("--steps", type=int, default=300)  # DragConfig.max_steps: a preview every 5 steps
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    server = ServerOptions(device=args.device, lpips_backbone="random", lpips_net="squeeze", no_cache=True)
    with tempfile.TemporaryDirectory() as tmp:
        app = EditorApp(server, checkpoint=args.checkpoint, temp_dir=tmp, allow_download=False)
        session = app.session("bench")
        session.start_from_seed(0, 0.7)
        r = session.model.size
        session.settings = EditorSettings(drag_steps=args.steps, stop_distance=0.0)
        handles = np.array([[0.4 * r, 0.5 * r]])
        targets = np.array([[0.6 * r, 0.5 * r]])
        config = session._drag_config()
        plain_config = dataclasses.replace(config, video=None)
        editor_times, plain_times = [], []
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            t = time.perf_counter()
            pl.drag_crop(session.G_edit, session.history[0].ws, handles, targets, None, plain_config, progress=False)
            plain_times.append((time.perf_counter() - t) / args.steps)
            session.history = session.history[:1]
            session.clicks = Clicks(
                ((float(handles[0, 0]), float(handles[0, 1])), (float(targets[0, 0]), float(targets[0, 1])))
            )
            frames = sum(1 for u in session.drag() if not u.done)
            # The drag itself, previews included; writing the download files afterwards is not a step.
            editor_times.append(session.seconds["drag"] / args.steps)
        app.close()
    plain, editor = statistics.median(plain_times), statistics.median(editor_times)
    print(f"model {args.checkpoint} ({r} px), {args.steps} steps, median of {args.repeats}, device {args.device}")
    print(f"{'run':<34}{'ms/step':>10}")
    print(f"{'draggan.drag (pipeline.drag_crop)':<34}{plain * 1e3:>10.2f}")
    print(f"{'editor (with live preview)':<34}{editor * 1e3:>10.2f}   ({frames} previews streamed)")
    print(f"{'ratio editor / plain':<34}{editor / plain:>10.3f}   (target <= 1.10)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
