"""Batch editing: many photos in one process (or many with torchrun), resumable.

    python run_pipeline.py --batch jobs.jsonl --out DIR [single-mode options = every job's defaults]
    torchrun --nproc_per_node=N -m pipeline.cli.batch --batch jobs.jsonl --out DIR [...]

This module is the engine: `run_batch(BatchOptions, PipelineConfig, command, log)`; the
command line (`pipeline.cli.batch`) checks the options and calls it.

Every line of the jobs file is checked first (`pipeline.io.jobs.read_jobs`): a bad line is
reported with its number and skipped, or with --strict the run stops before any work. The
generator and LPIPS are loaded once per process. Each job goes through the same steps as a
single-mode run (`pipeline.runner.run_job`) and writes `DIR/<id>/` atomically. `DIR/results.jsonl`
gets one line per finished job, appended and flushed as it ends (`status` 'ok' or 'error',
error class and message, seconds per stage, PSNR/LPIPS, final distances, converged).

Running the command again skips the jobs already 'ok' and the failed ones (unless
--retry-failed); a job folder that a killed run left mid-swap is put back first
(`pipeline.io.outputs.remove_stale_staging`). Under torchrun the pending jobs are dealt out
by rank, each rank appends to `DIR/results.rank<R>.jsonl`, and rank 0 merges them into
results.jsonl after a barrier.

Exit code: 0 when every job (and every line) succeeded, 4 when some failed, 2 for a bad
command or (with --strict) a bad jobs file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.errors import EXIT_JOBS_FAILED, EXIT_OK, DragPipelineError, one_line
from pipeline.config import PipelineConfig
from pipeline.io.jobs import BadLine, Job
from pipeline.io.outputs import check_replaceable, remove_stale_staging_in
from pipeline.runner import JobResult, run_job

__all__ = ["RESULTS", "BatchOptions", "read_results", "merge_results", "job_record", "run_batch", "shard_jobs"]

RESULTS = "results.jsonl"
_RANK_RESULTS = "results.rank*.jsonl"

Log = Callable[[str], None]


@dataclass(frozen=True)
class BatchOptions:
    """What a batch runs and how (the defaults of every job are the `PipelineConfig`)."""

    jobs_file: Path  # the jobs file (JSON lines)
    out: Path  # the output folder: <out>/<id>/ per job and <out>/results.jsonl
    checkpoint: str  # every job's default generator (file or registered name)
    all_faces: bool = False  # every job's default is `face_index "all"`
    retry_failed: bool = False  # run the jobs that failed before again
    strict: bool = False  # stop before any work when a line of the jobs file is bad
    checkpoints_dir: str | None = None  # folder of registered checkpoints (None = default)
    allow_download: bool = True  # fetch missing registered weights
    progress: bool = True  # a progress bar over the jobs

    def __post_init__(self) -> None:
        object.__setattr__(self, "jobs_file", Path(self.jobs_file))
        object.__setattr__(self, "out", Path(self.out))


def read_results(out: Path) -> dict[str, dict]:
    """The last record of each job id in `out`'s results.jsonl and any unmerged per-rank files.

    A line cut short by a kill (no newline, bad JSON) is ignored.
    """
    records: dict[str, dict] = {}
    for path in [out / RESULTS, *sorted(out.glob(_RANK_RESULTS))]:
        if not path.is_file():
            continue
        for text in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and "id" in record:
                records[str(record["id"])] = record
    return records


def merge_results(out: Path, order: list[str]) -> dict[str, dict]:
    """Rewrite results.jsonl with one line per job (the latest), in jobs-file order; drop rank files.

    Args:
        out: the batch's output folder.
        order: job ids (and bad-line ids) in the order of the jobs file; ids of jobs no longer
            in the file keep their lines, after these.

    Returns:
        The merged records by id.
    """
    records = read_results(out)
    ids = [i for i in order if i in records] + [i for i in records if i not in set(order)]
    tmp = out / f".{RESULTS}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for i in ids:
            f.write(json.dumps(records[i]) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out / RESULTS)
    for path in out.glob(_RANK_RESULTS):
        path.unlink()
    return records


def job_record(
    job_id: str,
    line: int | None,
    result: JobResult | None = None,
    error: BaseException | None = None,
    seconds: float = 0.0,
    rank: int = 0,
    attempts: int = 1,
) -> dict:
    """The results.jsonl line of a finished job (`result`) or a failed one (`error`).

    `attempts` counts the runs of this job in this output folder (a resumed run never
    recomputes an 'ok' job, so its count stays).
    """
    record: dict = {"id": job_id, "line": line, "status": "ok" if error is None else "error"}
    if error is not None:
        record.update(error=type(error).__name__, message=one_line(error))
    if result is not None and result.video is not None:
        video = result.video
        record["seconds"] = {k: round(float(v), 3) for k, v in result.seconds.items()}
        record["frames"] = len(video.frames)
        record["frames_with_face"] = sum(bool(r.get("found")) for r in video.frames)
        record["converged"] = bool(video.keyframe.summary["converged"])
    elif result is not None:
        faces = result.faces
        record["seconds"] = {k: round(float(v), 3) for k, v in result.seconds.items()}
        record["psnr"] = [_finite(f.metrics.get("psnr")) for f in faces]
        record["lpips"] = [_finite(f.metrics.get("lpips")) for f in faces]
        record["final_distances_photo"] = [[round(float(d), 3) for d in f.distances_photo] for f in faces]
        record["converged"] = all(bool(f.drag.converged) for f in faces)
        if len(faces) == 1:  # one face: plain numbers instead of one-element lists
            record["psnr"], record["lpips"] = record["psnr"][0], record["lpips"][0]
            record["final_distances_photo"] = record["final_distances_photo"][0]
    record.update(
        job_seconds=round(seconds, 3), rank=rank, attempts=attempts, finished=time.strftime("%Y-%m-%dT%H:%M:%S%z")
    )
    return record


def _finite(value):
    import math

    return None if value is None or not math.isfinite(float(value)) else round(float(value), 4)


class _ResultsFile:
    """Append-only results file: one JSON line per job, flushed to disk as each job ends."""

    def __init__(self, path: Path):
        self.path = path
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def append(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def _pending(jobs: list[Job], previous: dict[str, dict], out: Path, retry_failed: bool) -> list[Job]:
    pending = []
    for job in jobs:
        record = previous.get(job.id)
        if record is not None and record.get("status") == "ok" and (out / job.id).is_dir():
            continue
        if record is not None and record.get("status") == "error" and not retry_failed:
            continue
        pending.append(job)
    return pending


class _Progress:
    """A bar over this rank's jobs: done / failed / remaining and photos per minute."""

    def __init__(self, total: int, skipped: int, rank: int, world_size: int, enabled: bool):
        self.bar = None
        self.done = self.failed = 0
        self.t0 = time.perf_counter()
        if enabled and total:
            from common.progress import progress_bar

            desc = "jobs" if world_size == 1 else f"jobs rank {rank}/{world_size}"
            self.bar = progress_bar(
                total=total, desc=desc, unit="photo", position=rank, dynamic_ncols=True, file=sys.stderr
            )
            if skipped:
                self.bar.write(f"resuming: {skipped} job(s) already done or failed are skipped", file=sys.stderr)

    def update(self, ok: bool) -> None:
        self.done += ok
        self.failed += not ok
        if self.bar is not None:
            minutes = (time.perf_counter() - self.t0) / 60
            rate = (self.done + self.failed) / minutes if minutes > 0 else 0.0
            left = self.bar.total - self.bar.n - 1
            self.bar.set_postfix_str(
                f"ok {self.done}, failed {self.failed}, left {left}, {rate:.1f} photos/min", refresh=False
            )
            self.bar.update(1)

    def write(self, message: str, log) -> None:
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            log(message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def fetch_weights_first(jobs: list[Job], models, dist) -> None:
    """Under torchrun, rank 0 fetches (downloads) every model the jobs name before the other ranks look.

    Without this every rank downloads the same checkpoint and LPIPS backbones at once (8 x 350 MB
    on an 8-GPU node). Rank 0 loads each checkpoint the pending jobs name, whichever rank's
    shard holds them; the others wait at a barrier, then find the files on disk. A checkpoint
    that cannot be had is left for the job that names it to report.

    Args:
        jobs: the pending jobs of every rank.
        models: the process's `pipeline.models.Models`.
        dist: the `common.distributed.Distributed` of this process (a world of one: no waiting).
    """
    if not dist.enabled:
        return
    with dist.main_first():
        if dist.is_main:
            for checkpoint in dict.fromkeys(job.checkpoint for job in jobs):
                try:
                    models.get(checkpoint)
                except DragPipelineError:
                    pass  # the job that names it fails with this error, recorded like any other


def _run_shard(
    jobs: list[Job],
    models,
    out: Path,
    command: str,
    results: _ResultsFile,
    dist,
    previous: dict,
    skipped: int,
    show_progress: bool,
    log: Log,
) -> None:

    progress = _Progress(len(jobs), skipped, dist.rank, dist.world_size, enabled=show_progress)
    try:
        for job in jobs:
            t = time.perf_counter()
            attempts = int(previous.get(job.id, {}).get("attempts", 0)) + 1
            try:
                # A job folder that cannot be replaced fails this job now, not after its edit.
                check_replaceable(out / job.id, "job folder", fix="remove it")
                outcome = run_job(
                    job, models, out / job.id, f"{command} (job {job.id})", overwrite=True, progress=False, log=None
                )
                record = job_record(
                    job.id, job.line, outcome.result, seconds=time.perf_counter() - t, rank=dist.rank, attempts=attempts
                )
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - one failed job must not stop the others
                record = job_record(
                    job.id, job.line, error=exc, seconds=time.perf_counter() - t, rank=dist.rank, attempts=attempts
                )
                progress.write(
                    f"error: job {job.id} (line {job.line}) failed: {record['error']}: {record['message']}", log
                )
            results.append(record)
            progress.update(record["status"] == "ok")
    finally:
        progress.close()


def _report_bad_lines(bad: list[BadLine], source: str, strict: bool, log) -> None:
    for b in bad:
        log(f"error: {source} line {b.line}: {one_line(b.error)}{'' if strict else '; skipped'}")


def run_batch(batch: BatchOptions, config: PipelineConfig, command: str, log: Log) -> int:
    """Run the jobs of `batch.jobs_file` (see the module docstring); returns the exit code.

    Under torchrun every rank calls it with the same arguments.

    Args:
        batch: the jobs file, the output folder and how to run.
        config: every job's default `PipelineConfig` (a line's `align`, `box`, `face_index`
            override it).
        command: the command line recorded in each report.json (with ' (job <id>)' added).
        log: one-line status callback (stderr).

    Returns:
        `common.errors.EXIT_OK` when every job and line succeeded, `EXIT_JOBS_FAILED` otherwise.

    Raises:
        JobLineError: the jobs file is unreadable or empty, or (`batch.strict`) has a bad line.
        OutputError: `batch.out` cannot be written.
    """
    from common.distributed import Distributed
    from common.paths import check_output_location
    from pipeline.errors import OutputError
    from pipeline.io.jobs import JobLineError, read_jobs
    from pipeline.models import Models

    # The job folders and results.jsonl go into --out: it must be writable before anything runs.
    check_output_location(batch.out / RESULTS, "the results file", OutputError, fix="choose another --out folder")
    jobs, bad = read_jobs(batch.jobs_file, config, batch.checkpoint, all_faces=batch.all_faces)
    dist = Distributed.from_env(config.device)
    try:
        _report_bad_lines(bad if dist.is_main else [], batch.jobs_file.name, batch.strict, log)
        if bad and batch.strict:  # every rank read the same file: all stop here
            raise JobLineError(
                f"{len(bad)} bad line(s) in {batch.jobs_file} (--strict): fix them, or run without "
                "--strict to skip them; nothing was computed"
            )
        config = dataclasses.replace(config, device=dist.device(config.device))
        jobs = [dataclasses.replace(job, config=dataclasses.replace(job.config, device=config.device)) for job in jobs]
        out = batch.out
        out.mkdir(parents=True, exist_ok=True)
        if dist.is_main:  # a job folder a killed run left mid-swap is put back; its staging removed
            remove_stale_staging_in(out)
        dist.barrier()
        previous = read_results(out)
        pending = _pending(jobs, previous, out, batch.retry_failed)
        dist.barrier()  # every rank has read the same state before anyone writes
        name = RESULTS if not dist.enabled else f"results.rank{dist.rank}.jsonl"
        results = _ResultsFile(out / name)
        try:
            if dist.is_main:
                for b in bad:
                    results.append(job_record(b.id, b.line, error=b.error, rank=dist.rank))
            models = Models(config, batch.checkpoints_dir, batch.allow_download, progress=batch.progress, log=log)
            fetch_weights_first(pending, models, dist)
            _run_shard(
                shard_jobs(pending, dist),
                models,
                out,
                command,
                results,
                dist,
                previous,
                len(jobs) - len(pending),
                batch.progress,
                log,
            )
        finally:
            results.close()
        dist.barrier()  # every rank's file is complete
        code = _summarise(out, [j.id for j in jobs] + [b.id for b in bad]) if dist.is_main else EXIT_OK
        return int(dist.broadcast(code))
    finally:
        dist.close()


def _summarise(out: Path, ids: list[str]) -> int:
    """Merge the results files, print the one-line summary and return the exit code."""
    records = merge_results(out, ids)
    failed = [i for i in ids if records.get(i, {}).get("status") != "ok"]
    print(
        f"{len(ids) - len(failed)} of {len(ids)} jobs ok"
        + (f"; failed: {', '.join(failed[:10])}{' ...' if len(failed) > 10 else ''}" if failed else "")
        + f"; results: {out / RESULTS}"
    )
    return EXIT_JOBS_FAILED if failed else EXIT_OK


def shard_jobs(jobs: list[Job], dist) -> list[Job]:
    """This rank's jobs (pending jobs dealt out round-robin by rank)."""
    from common.distributed import shard

    return shard(jobs, dist.rank, dist.world_size)
