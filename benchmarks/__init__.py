"""Speed benchmarks (not installed): run from the repository root as `python -m benchmarks.<name>`.

Nothing in the project imports this package.
"""
