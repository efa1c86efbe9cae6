"""Measuring tools for researchers: inversion quality, the face-model report, held-out faces.

Nothing in the project imports this package.
"""
