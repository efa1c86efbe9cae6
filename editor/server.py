"""`python -m editor` / `draggan-editor`: start the web editor.

    python -m editor                       # http://127.0.0.1:7860, the default face model
    python -m editor --checkpoint random-64 --lpips-backbone random   # offline smoke run

Binds 127.0.0.1 unless --host says otherwise; --share is off by default. Only the app's
temporary folder is served (`allowed_paths`), uploads are capped (--max-upload-mb,
--max-photo-pixels), and analytics are off.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["build_parser", "launch", "main"]


def build_parser() -> argparse.ArgumentParser:
    from pipeline import DEFAULT_CHECKPOINT

    p = argparse.ArgumentParser(prog="draggan-editor", description="Interactive DragGAN editor in the browser.")
    p.add_argument(
        "--checkpoint",
        default=DEFAULT_CHECKPOINT,
        help=f"default model: registered name or a file in the checkpoints folder (default {DEFAULT_CHECKPOINT})",
    )
    p.add_argument(
        "--checkpoints-dir", help="the checkpoints folder (default ./checkpoints or env DRAGGAN_CHECKPOINTS)"
    )
    p.add_argument(
        "--allow-any-checkpoint",
        action="store_true",
        help="also accept checkpoint files outside the checkpoints folder",
    )
    p.add_argument("--offline", action="store_true", help="never download checkpoints")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 = any free port)")
    p.add_argument("--share", action="store_true", help="also open a public Gradio share link (off by default)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload in MB (default 20)")
    p.add_argument(
        "--max-photo-pixels", type=int, default=40_000_000, help="largest photo in pixels (default 40 million)"
    )
    p.add_argument("--idle-timeout", type=float, default=3600.0, help="free a tab's state after this many idle seconds")
    p.add_argument(
        "--offload-after",
        type=float,
        default=300.0,
        help="move an idle tab's tuned generator from the GPU to the CPU after this many seconds (default 300; "
        "negative: never)",
    )
    p.add_argument(
        "--max-models", type=int, default=2, help="checkpoints kept loaded, least recently picked dropped (default 2)"
    )
    p.add_argument("--lpips-backbone", help="local LPIPS backbone file or folder (offline); 'random' for smoke tests")
    p.add_argument("--lpips-net", choices=("vgg", "alex", "squeeze"), help="LPIPS net of every inversion stage")
    p.add_argument("--cache-dir", help="inversion cache folder")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the inversion cache")
    return p


def launch(app, host: str = "127.0.0.1", port: int = 7860, share: bool = False, block: bool = True):
    """Build the page for `app` and serve it.

    Returns:
        The launched `gr.Blocks` (with block=False the server runs in a background thread;
        call `.close()` to stop it).
    """
    # Gradio copies every served file into GRADIO_TEMP_DIR: keep it inside the app's folder.
    os.environ["GRADIO_TEMP_DIR"] = str(app.temp_dir / "gradio")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from editor.ui import CSS, THEME, build_demo

    demo = build_demo(app)
    demo.queue(default_concurrency_limit=1)
    examples = Path(__file__).resolve().parents[1] / "examples"
    demo.launch(
        server_name=host,
        server_port=port or None,
        share=share,
        prevent_thread_lock=not block,
        inbrowser=False,
        show_error=False,
        quiet=not block,
        theme=THEME,
        css=CSS,
        max_file_size=int(app.max_upload_mb * 2**20),
        allowed_paths=[str(app.temp_dir), str(examples)],
        footer_links=[],
    )
    return demo


def main(argv: list[str] | None = None) -> int:
    """Parse the options, load the default model and serve until interrupted."""
    args = build_parser().parse_args(argv)
    from editor.app import EditorApp
    from editor.settings import ServerOptions
    from pipeline import DragPipelineError

    try:
        server = ServerOptions(
            device=args.device,
            lpips_backbone=args.lpips_backbone,
            lpips_net=args.lpips_net,
            cache_dir=args.cache_dir,
            no_cache=args.no_cache,
            max_photo_pixels=args.max_photo_pixels,
            offload_after_s=args.offload_after if args.offload_after >= 0 else None,
            max_models=args.max_models,
        )
        app = EditorApp(
            server,
            checkpoint=args.checkpoint,
            checkpoints_dir=args.checkpoints_dir,
            allow_any_checkpoint=args.allow_any_checkpoint,
            allow_download=not args.offline,
            max_upload_mb=args.max_upload_mb,
            idle_timeout_s=args.idle_timeout,
            temp_dir=Path(tempfile.mkdtemp(prefix="draggan-editor-")),
        )
    except DragPipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3 if type(exc).__name__ == "MissingWeightsError" else 2
    print(
        f"draggan-editor: model {app.default_model.label} ({app.default_model.size} px); "
        f"serving on http://{args.host}:{args.port}",
        flush=True,
    )
    try:
        launch(app, args.host, args.port, args.share, block=True)
    except KeyboardInterrupt:
        pass
    finally:
        app._own_temp = True
        app.close()
    return 0
