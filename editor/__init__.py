"""The interactive DragGAN editor: a Gradio 6 web page over `pipeline`.

    python -m editor            # or: draggan-editor

Modules: `state` (points, scaling, mask, history as plain functions), `settings` (page
choices -> the CLI's PipelineConfig), `session` (one tab's photo, inversion and drags),
`app` (models and per-tab sessions), `view` (what the page shows), `handlers` (events),
`ui` (layout and wiring), `server` (command line, launch), `bench` (editor vs draggan.drag).
Imports only `pipeline` (and Gradio); the stages are reached through it.
"""
