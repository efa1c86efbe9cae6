"""Reading the pipeline's inputs (points, masks, jobs files) and writing its outputs.

points, jobs: inputs; outputs: output folders (staging, atomic swap) and PNGs; drawing: points
and the comparison image; video: the drag video; clip: video clips in and out (probe, streaming
frames, the atomic H.264 writer with audio copy); report: every file of an edit and report.json.
"""
