"""Plain-data round trips of the stage configs (frozen dataclasses), shared by every package.

    data = config_to_dict(config)                        # str/int/float/bool/None, lists, dicts
    config == config_from_dict(type(config), data, StageError)

Saved results and training states store their config this way; reading one written by
another version fails with the caller's error class instead of a TypeError.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from common.errors import DragPipelineError

__all__ = ["config_to_dict", "config_from_dict"]

C = TypeVar("C")


def config_to_dict(config: Any) -> dict[str, Any]:
    """The fields of a dataclass config as a plain dict (nested dataclasses become dicts)."""
    return dataclasses.asdict(config)


def config_from_dict(cls: type[C], data: Any, error: type[DragPipelineError]) -> C:
    """Rebuild a config from `config_to_dict`'s output, validated by its `__post_init__`.

    JSON has no tuples: a list is turned back into a tuple where the field's default is one.

    Args:
        cls: the dataclass.
        data: the dict read back (from JSON or a torch file).
        error: the exception class for unknown fields or a non-dict.

    Returns:
        cls(**data).

    Raises:
        error: `data` is not a dict or has fields `cls` does not know (a file from another version).
    """
    if not isinstance(data, dict):
        raise error(f"a stored {cls.__name__} must be a dict, got {type(data).__name__}; the file is damaged")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise error(
            f"unknown {cls.__name__} fields {unknown}; the file was written by another version of "
            "draggan-pipeline: use that version, or upgrade this one"
        )
    values = dict(data)
    for name, value in values.items():
        if isinstance(value, list) and isinstance(fields[name].default, tuple):
            values[name] = tuple(value)
    return cls(**values)
