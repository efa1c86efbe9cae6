"""The exit code of an error comes from its class (`exit_code`), not from its other bases."""

from __future__ import annotations

import importlib

import pytest

from common.errors import (
    EXIT_BAD_INPUT,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_JOBS_FAILED,
    EXIT_MISSING_WEIGHTS,
    EXIT_OK,
    CheckpointError,
    DragPipelineError,
    MissingWeightsError,
    exit_code_for,
    one_line,
)


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _all_subclasses(sub)
    return out


def test_exit_code_follows_the_class_not_valueerror():
    # CheckpointError is not a ValueError and still is bad input (2); missing weights are 3
    # even when the class also derives from a bad-input class (FaceModelError).
    from align.errors import FaceModelError, PhotoError

    assert not issubclass(CheckpointError, ValueError)
    assert exit_code_for(CheckpointError("x")) == EXIT_BAD_INPUT
    assert exit_code_for(MissingWeightsError("x")) == EXIT_MISSING_WEIGHTS
    assert exit_code_for(FaceModelError("x")) == EXIT_MISSING_WEIGHTS
    assert exit_code_for(PhotoError("x")) == EXIT_BAD_INPUT
    assert exit_code_for(ValueError("x")) == EXIT_ERROR  # a plain ValueError is a bug, not bad input
    assert exit_code_for(KeyboardInterrupt()) == EXIT_INTERRUPTED


def test_every_project_error_has_a_bad_input_or_missing_weights_code():
    for module in (
        "align",
        "inversion",
        "draggan",
        "hub.errors",
        "pipeline.errors",
        "pipeline.io.jobs",
        "pipeline.batch",
        "training.errors",
        "pipeline.options",
        "editor.errors",
        "evaluation.face_model_report",
        "evaluation.inversion_quality",
    ):
        importlib.import_module(module)
    classes = _all_subclasses(DragPipelineError)
    assert len(classes) >= 10
    for cls in classes:
        expected = EXIT_MISSING_WEIGHTS if issubclass(cls, MissingWeightsError) else EXIT_BAD_INPUT
        assert cls.exit_code == expected, cls


def test_report_and_outputs_raise_project_errors(tmp_path):
    import numpy as np

    from pipeline.errors import OutputError, PipelineError
    from pipeline.io.outputs import write_png
    from pipeline.io.report import load_latents
    from pipeline.io.video import write_video

    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(PipelineError, match="junk.pt"):
        load_latents(tmp_path / "junk.pt")
    with pytest.raises(PipelineError, match="missing.pt"):
        load_latents(tmp_path / "missing.pt")
    with pytest.raises(OutputError):
        write_png(tmp_path / "a.png", np.zeros((4, 4, 3), np.float32))
    with pytest.raises(OutputError):
        write_video(tmp_path, [])


def test_every_exit_code_is_distinct():
    codes = [EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_MISSING_WEIGHTS, EXIT_JOBS_FAILED, EXIT_INTERRUPTED]
    assert len(set(codes)) == len(codes) and EXIT_JOBS_FAILED == 4


def test_one_line():
    exc = ValueError("  bad value\n  in   line 2 ")
    assert one_line(exc) == "bad value in line 2"
    assert one_line(exc, first_line_only=True) == "bad value"
    assert one_line(ValueError("x" * 300), first_line_only=True, max_chars=200) == "x" * 200
    assert one_line(KeyError()) == "KeyError" and one_line(OSError(" \n "), first_line_only=True) == "OSError"
