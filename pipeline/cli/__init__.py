"""The command line (`run_pipeline.py`, `draggan-edit`, `python -m pipeline.cli.batch`).

Nothing but the entry points imports it.

    parser    the argument parser, one function per option group -> `pipeline.options.UserOptions`
    command   what every entry point shares: Ctrl-C, one-line errors, exit codes (`common.errors`)
    main      single mode (`--image`, `--points`), and --batch handed to `batch`
    batch     the batch command line -> `pipeline.batch.run_batch` (the engine)
"""
