"""The interactive DragGAN editor: a Gradio 6 web page over `pipeline`.

    python -m editor            # or: draggan-editor

Modules: `state` (points, photo / crop / display scaling, mask, history as plain functions),
`settings` (page choices -> the CLI's PipelineConfig), `session` (one tab's photo, inversion
and drags), `preview` (the live preview's composite, within a time budget), `app` (models and
per-tab sessions), `view` (what the page shows: the photo canvas, the crop view), `handlers`
(events), `ui` (layout and wiring), `video` / `video_ui` (the Video tab: a clip edited
from one keyframe, `pipeline.video.edit_video`), `server` (command line, launch); `benchmarks.editor` times
the editor against draggan.drag.
Imports only `pipeline` (and Gradio); the stages are reached through it.
"""
