"""Reading the pipeline's inputs (points, masks, jobs files) and writing its outputs.

points, jobs: inputs; outputs: output folders (staging, atomic swap) and PNGs; drawing: points
and the comparison image; video: the drag video; report: every file of an edit and report.json.
"""
