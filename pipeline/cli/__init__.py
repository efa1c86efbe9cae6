"""The command line (`run_pipeline.py`, `draggan-edit`, batch jobs); nothing but the entry points imports it."""
