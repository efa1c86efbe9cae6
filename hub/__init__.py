"""Where weights come from: the checkpoint registry, verified downloads, the LPIPS backbones.

It never imports `pipeline`; compute functions elsewhere never download.
"""
