"""What every package of the project uses that is not about one stage.

The error root and exit codes (`common.errors`), paths and atomic file writes (`common.paths`,
`common.fileio`), hashing, image reading/writing (`common.images`), lazy package exports,
config dict round trips, device selection and peak memory (`common.device`) and torchrun helpers
(`common.distributed`). It imports no other package of the project.
"""
