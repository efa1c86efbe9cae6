"""The page layout (Gradio 6 Blocks) and the wiring of its events to `Handlers`.

Heavy events (model loading, inversion, seed, drag) share one queue slot per device
(`concurrency_id='device'`, limit 1): other tabs wait and see their place in the queue.
Light events (points, Stop) run without that limit so Stop answers while a drag runs.
"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr

from editor.app import EditorApp
from editor.handlers import SETTING_NAMES, Handlers, bind
from editor.settings import ADVANCED_LABELLED, advanced_labels
from editor.video_ui import video_tab, wire_video

__all__ = ["THEME", "build_demo"]

# System fonts only: nothing is fetched from a font CDN when the page loads (works offline).
THEME = gr.themes.Base(
    font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "SFMono-Regular", "monospace"]
)
# The crop views are small images enlarged (nearest): keep their pixels sharp. The canvas is the photo.
CSS = "#crop img, #mask img { image-rendering: pixelated; } #canvas { max-width: 720px; } #mask { max-width: 560px; }"
HEAVY = {"concurrency_id": "device", "concurrency_limit": 1}
LIGHT = {"concurrency_limit": None, "queue": False}


def _settings_panel(app: EditorApp) -> SimpleNamespace:
    """The alignment / inversion inputs (visible) and the advanced drag settings (collapsed).

    The advanced labels name the default model's values; `Handlers.choose_model` updates them.
    """
    s = SimpleNamespace()
    labels = advanced_labels(app.default_model, app.server)
    with gr.Row():
        s.align_mode = gr.Radio(["face", "box", "center"], value="face", label="Crop", elem_id="align-mode")
        s.face_index = gr.Textbox(value="", label="Face number (blank = largest)", elem_id="face-index")
        s.box = gr.Textbox(label="Box x0,y0,x1,y1 (box mode; or click two corners)", placeholder="x0,y0,x1,y1")
    with gr.Row():
        s.inversion_method = gr.Radio(["w", "w+", "pti"], value="pti", label="Inversion", elem_id="inversion")
        s.steps = gr.Textbox(value="", label="Inversion steps per stage (blank = default)", elem_id="steps")
    with gr.Accordion("Advanced settings", open=False):
        with gr.Row():
            s.lr = gr.Textbox(value="", label=labels["lr"], elem_id="lr")
            s.drag_steps = gr.Textbox(value="", label=labels["drag_steps"], elem_id="drag-steps")
            s.stop_distance = gr.Textbox(value="", label=labels["stop_distance"], elem_id="stop-distance")
            s.w_space = gr.Radio(["w+", "w"], value=None, label="Optimise W+ or W")
        with gr.Row():
            s.r1 = gr.Textbox(value="", label=labels["r1"], elem_id="r1")
            s.r2 = gr.Textbox(value="", label=labels["r2"], elem_id="r2")
            s.feature_res = gr.Textbox(value="", label=labels["feature_res"], elem_id="feature-res")
            s.lambda_mask = gr.Textbox(value="", label=labels["lambda_mask"], elem_id="lambda-mask")
            s.seed = gr.Number(value=0, label="Seed (inversion and drag)", precision=0)
    return s


def build_demo(app: EditorApp) -> gr.Blocks:
    """The editor page for `app` (launch it with `editor.server.launch`)."""
    page = SimpleNamespace(pairs_update=lambda labels: gr.update(choices=labels, value=None))
    with gr.Blocks(title="DragGAN editor", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        _header(app, page)
        settings = _sources(app, page)
        with gr.Row():
            page.aligned = gr.Image(label="Aligned crop", interactive=False, format="png")
            page.reconstruction = gr.Image(label="Reconstruction", interactive=False, format="png")
        page.metrics = gr.Markdown(elem_id="metrics")
        with gr.Row():
            with gr.Column(scale=3):
                _points_and_mask(page)
            with gr.Column(scale=2):
                page.crop_view = gr.Image(
                    label="Generator crop (live)", interactive=False, format="png", elem_id="crop", height=360
                )
                _drag_controls(page)
        with gr.Row():
            page.original = gr.Image(label="Original", interactive=False, format="png", elem_id="original")
            page.edited = gr.Image(label="Edited (pasted back)", interactive=False, format="png", elem_id="edited")
        page.files = gr.File(
            label="Downloads: edited.png, comparison.png, drag video, latents.pt, report.json",
            file_count="multiple",
            interactive=False,
            elem_id="files",
        )
        _wire(app, page, settings, demo)
    return demo


def _header(app: EditorApp, page: SimpleNamespace) -> None:
    """The title, the model choice and the status line."""
    gr.Markdown(
        "## DragGAN editor\nUpload a photo (or generate one from a seed), click a **handle** (red) "
        "and then its **target** (blue), and press **Drag**."
    )
    with gr.Row():
        page.model = gr.Dropdown(
            app.checkpoint_choices(),
            value=app.default_model.label,
            label="Model",
            allow_custom_value=True,
            elem_id="model",
        )
        page.status = gr.Textbox(label="Status", interactive=False, elem_id="status", lines=1)


def _sources(app: EditorApp, page: SimpleNamespace) -> SimpleNamespace:
    """The two starts: a photo (upload, settings, Invert) or a seed (Generate); returns the settings."""
    with gr.Tabs():
        with gr.Tab("Photo"):
            with gr.Row():
                page.upload = gr.File(
                    label="Photo (drop or choose a file)", file_types=["image"], type="filepath", elem_id="upload"
                )
                page.photo_view = gr.Image(
                    label="Photo: faces numbered, click to choose", interactive=False, format="png", elem_id="photo"
                )
            settings = _settings_panel(app)
            page.invert_btn = gr.Button("Invert", variant="primary", elem_id="invert")
        with gr.Tab("Seed"):
            with gr.Row():
                page.seed_value = gr.Number(value=0, label="Seed", precision=0)
                page.psi = gr.Slider(0, 1, value=0.7, step=0.05, label="Truncation psi")
                page.seed_btn = gr.Button("Generate", elem_id="generate")
        with gr.Tab("Video"):
            video_tab(page)
    return settings


def _points_and_mask(page: SimpleNamespace) -> None:
    """The canvas to click points on (the photo around the face, the edit composited) and the mask painter."""
    with gr.Tabs():
        with gr.Tab("Points"):
            page.canvas = gr.Image(
                label="Photo: click a handle, then its target (inside the green outline)",
                interactive=False,
                format="png",
                elem_id="canvas",
            )
        with gr.Tab("Mask"):
            page.mask_editor = gr.ImageEditor(
                label="Paint the mask on the photo (inside the green outline)",
                type="numpy",
                elem_id="mask",
                brush=gr.Brush(colors=["#ffffff"], color_mode="fixed"),
                transforms=(),
                layers=False,
                format="png",
            )
            with gr.Row():
                page.mask_mode = gr.Radio(
                    ["flexible", "fixed"],
                    value="flexible",
                    label="Painted area: may move (flexible) or stays (fixed)",
                )
                page.apply_mask_btn = gr.Button("Apply mask")
                page.clear_mask_btn = gr.Button("Clear mask")


def _drag_controls(page: SimpleNamespace) -> None:
    """Drag / Stop, undo and reset, the point pairs and points typed in by coordinates."""
    with gr.Row():
        page.drag_btn = gr.Button("Drag", variant="primary", elem_id="drag")
        page.stop_btn = gr.Button("Stop", variant="stop", elem_id="stop")
    with gr.Row():
        page.undo_point_btn = gr.Button("Undo point", elem_id="undo-point")
        page.clear_btn = gr.Button("Clear points", elem_id="clear-points")
        page.undo_drag_btn = gr.Button("Undo drag", elem_id="undo-drag")
        page.reset_btn = gr.Button("Reset", elem_id="reset")
    with gr.Row():
        page.pairs = gr.Dropdown([], label="Pairs (photo px)", elem_id="pairs")
        page.delete_pair_btn = gr.Button("Delete pair")
    with gr.Row():
        page.x = gr.Number(label="x (photo px)", elem_id="point-x")
        page.y = gr.Number(label="y (photo px)", elem_id="point-y")
        page.add_point_btn = gr.Button("Add point", elem_id="add-point")
    page.points_json = gr.JSON(label="Points (handles / targets: crop px; *_photo: photo px)", elem_id="points")


def _wire(app: EditorApp, page: SimpleNamespace, settings: SimpleNamespace, demo: gr.Blocks) -> None:
    h = Handlers(app, page)
    inputs = [getattr(settings, name) for name in SETTING_NAMES]
    names = list(SETTING_NAMES)
    for name in ("box", "face_index", *ADVANCED_LABELLED):
        setattr(page, name, getattr(settings, name))
    full = [
        page.photo_view,
        page.aligned,
        page.reconstruction,
        page.metrics,
        page.canvas,
        page.points_json,
        page.pairs,
        page.mask_editor,
        page.original,
        page.edited,
        page.files,
        page.crop_view,
        page.status,
    ]
    pts = [page.canvas, page.points_json, page.pairs, page.crop_view, page.status]

    # The labels first, so that the status stays the last output (the API's result[-1]).
    labelled = [getattr(page, name) for name in ADVANCED_LABELLED]
    page.model.input(h.choose_model, [page.model], [*labelled, *full], api_name="model", **HEAVY)
    page.upload.upload(
        bind(h.upload, ["photo", *names]), [page.upload, *inputs], full, api_name="upload", **HEAVY
    ).success(bind(h.invert, names, progress=True), inputs, full, api_name="invert_after_upload", **HEAVY)
    page.invert_btn.click(bind(h.invert, names, progress=True), inputs, full, api_name="invert", **HEAVY)
    page.photo_view.select(
        bind(h.pick_on_photo, names, select=True), inputs, [page.face_index, page.box, page.status], api_name=False
    )
    for trigger in (settings.align_mode.input, settings.face_index.submit, settings.box.submit):
        trigger(bind(h.realign, names), inputs, full, api_name=False, **HEAVY)
    page.seed_btn.click(
        bind(h.seed, ["seed_value", "psi", *names]),
        [page.seed_value, page.psi, *inputs],
        full,
        api_name="seed",
        **HEAVY,
    )

    page.canvas.select(h.click_canvas, None, [*pts[:-1], page.x, page.y, page.status], api_name=False)
    page.add_point_btn.click(h.add_point, [page.x, page.y], pts, api_name="add_point")
    page.undo_point_btn.click(h.undo_point, None, pts, api_name="undo_point")
    page.clear_btn.click(h.clear_points, None, pts, api_name="clear_points")
    page.delete_pair_btn.click(h.delete_pair, [page.pairs], pts, api_name="delete_pair")
    page.apply_mask_btn.click(h.apply_mask, [page.mask_editor, page.mask_mode], pts, api_name="apply_mask")
    page.clear_mask_btn.click(h.clear_mask, None, [*pts, page.mask_editor], api_name="clear_mask")

    page.drag_btn.click(bind(h.drag, names), inputs, full, api_name="drag", **HEAVY)
    page.stop_btn.click(h.stop, None, [page.status], api_name="stop", **LIGHT)
    page.undo_drag_btn.click(h.undo_drag, None, full, api_name="undo_drag")
    page.reset_btn.click(h.reset, None, full, api_name="reset")
    wire_video(app, page, inputs, names, HEAVY, LIGHT)
    demo.unload(h.unload)
