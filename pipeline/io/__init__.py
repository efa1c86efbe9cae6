"""Reading the pipeline's inputs (points, masks, jobs files) and writing its outputs.

Output folders, images, drawings, the drag video and the report.
"""
