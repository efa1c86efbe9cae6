"""Where weights come from: the checkpoint table, verified downloads, the LPIPS backbones.

`hub.table` holds the registered checkpoints as data (one `CheckpointInfo` row each),
`hub.registry` resolves, downloads and loads them, `hub.lpips_weights` fetches the LPIPS
backbones, `hub.errors` holds its errors. It never imports `pipeline`; compute functions
elsewhere never download.
"""
