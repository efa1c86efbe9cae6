"""Batch editing: many photos in one process (or many with torchrun), resumable.

    python run_pipeline.py --batch jobs.jsonl --out DIR [single-mode options = every job's defaults]
    torchrun --nproc_per_node=N -m pipeline.batch --batch jobs.jsonl --out DIR [...]

Every line of the jobs file is checked first (`pipeline.io.jobs.read_jobs`): a bad line is
reported with its number and skipped, or with --strict the run stops before any work. The
generator and LPIPS are loaded once per process. Each job goes through the same steps as a
single-mode run (`pipeline.runner.run_job`) and writes `DIR/<id>/` atomically. `DIR/results.jsonl`
gets one line per finished job, appended and flushed as it ends (`status` 'ok' or 'error',
error class and message, seconds per stage, PSNR/LPIPS, final distances, converged).

Running the command again skips the jobs already 'ok' and the failed ones (unless
--retry-failed). Under torchrun the pending jobs are dealt out by rank, each rank appends to
`DIR/results.rank<R>.jsonl`, and rank 0 merges them into results.jsonl after a barrier.

Exit code: 0 when every job (and every line) succeeded, 4 when some failed, 2 for a bad
command or (with --strict) a bad jobs file.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

from pipeline.io.jobs import BadLine, Job

__all__ = ["RESULTS", "read_results", "merge_results", "job_record", "run_batch", "main"]

RESULTS = "results.jsonl"
_RANK_RESULTS = "results.rank*.jsonl"


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


def _one_line(exc: BaseException) -> str:
    return " ".join((str(exc).strip() or type(exc).__name__).split())


def job_record(
    job_id: str,
    line: int | None,
    result=None,
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
        record.update(error=type(error).__name__, message=_one_line(error))
    if result is not None:
        faces = getattr(result, "faces", None) or [result]
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


def _remove_stale_staging(out: Path) -> None:
    # Staging folders of a killed run (`pipeline.io.outputs.staged_output_dir`): never a result.
    for path in out.glob(".*.partial"):
        shutil.rmtree(path, ignore_errors=True)
    for path in out.glob(".*.old"):
        shutil.rmtree(path, ignore_errors=True)


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


def _check_batch_usage(args) -> Path:
    from pipeline.cli.main import UsageError, check_align_usage

    if not args.out:
        raise UsageError("--batch needs --out DIR (the folder of the job folders and results.jsonl)")
    for flag, value in (
        ("--image", args.image),
        ("--points", args.points),
        ("--mask", args.mask),
        ("--overwrite", args.overwrite),
    ):
        if value:
            raise UsageError(f"{flag} does not apply to --batch; put images, points and masks in the jobs file")
    check_align_usage(args)
    out = Path(args.out).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; choose a folder path")
    return out


class _Progress:
    """A bar over this rank's jobs: done / failed / remaining and photos per minute."""

    def __init__(self, total: int, skipped: int, rank: int, world_size: int, enabled: bool):
        self.bar = None
        self.done = self.failed = 0
        self.t0 = time.perf_counter()
        if enabled and total:
            from tqdm.auto import tqdm

            desc = "jobs" if world_size == 1 else f"jobs rank {rank}/{world_size}"
            self.bar = tqdm(total=total, desc=desc, unit="photo", position=rank, dynamic_ncols=True, file=sys.stderr)
            if skipped:
                self.bar.write(f"resuming: {skipped} job(s) already done or failed are skipped", file=sys.stderr)

    def update(self, ok: bool) -> None:
        self.done += ok
        self.failed += not ok
        if self.bar is not None:
            minutes = (time.perf_counter() - self.t0) / 60
            rate = (self.done + self.failed) / minutes if minutes > 0 else 0.0
            self.bar.update(1)
            self.bar.set_postfix_str(
                f"ok {self.done}, failed {self.failed}, left {self.bar.total - self.bar.n}, {rate:.1f} photos/min"
            )

    def write(self, message: str, log) -> None:
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            log(message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_shard(
    jobs: list[Job],
    models,
    out: Path,
    command: str,
    results: _ResultsFile,
    dist,
    previous: dict,
    skipped: int,
    args,
    log,
) -> None:
    from pipeline.runner import run_job

    progress = _Progress(len(jobs), skipped, dist.rank, dist.world_size, enabled=not args.quiet)
    try:
        for job in jobs:
            t = time.perf_counter()
            attempts = int(previous.get(job.id, {}).get("attempts", 0)) + 1
            try:
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
        log(f"error: {source} line {b.line}: {_one_line(b.error)}{'' if strict else '; skipped'}")


def run_batch(args, argv: list[str], log) -> int:
    """Run the jobs of `args.batch` (see the module docstring); returns the exit code.

    Args:
        args: the parsed command line (`pipeline.cli.main.build_parser`).
        argv: the arguments, recorded in each report.json.
        log: one-line status callback (stderr).
    """
    import dataclasses
    import shlex

    from common.distributed import Distributed
    from pipeline.cli.main import EXIT_JOBS_FAILED, EXIT_OK, config_from_args, models_from_args
    from pipeline.io.jobs import read_jobs

    out = _check_batch_usage(args)
    config = config_from_args(args)
    jobs, bad = read_jobs(args.batch, config, args.checkpoint, all_faces=args.face_index == "all")
    dist = Distributed.from_env(args.device)
    try:
        _report_bad_lines(bad if dist.is_main else [], Path(args.batch).name, args.strict, log)
        if bad and args.strict:  # every rank read the same file: all stop here
            from pipeline.io.jobs import JobLineError

            raise JobLineError(
                f"{len(bad)} bad line(s) in {args.batch} (--strict): fix them, or run without "
                "--strict to skip them; nothing was computed"
            )
        config = dataclasses.replace(config, device=dist.device(args.device))
        jobs = [dataclasses.replace(job, config=dataclasses.replace(job.config, device=config.device)) for job in jobs]
        out.mkdir(parents=True, exist_ok=True)
        previous = read_results(out)
        pending = _pending(jobs, previous, out, args.retry_failed)
        if dist.is_main:
            _remove_stale_staging(out)
        dist.barrier()  # every rank has read the same state before anyone writes
        name = RESULTS if not dist.enabled else f"results.rank{dist.rank}.jsonl"
        results = _ResultsFile(out / name)
        try:
            if dist.is_main:
                for b in bad:
                    results.append(job_record(b.id, b.line, error=b.error, rank=dist.rank))
            command = shlex.join(["run_pipeline.py", *argv])
            _run_shard(
                shard_jobs(pending, dist),
                models_from_args(args, config, log),
                out,
                command,
                results,
                dist,
                previous,
                len(jobs) - len(pending),
                args,
                log,
            )
        finally:
            results.close()
        dist.barrier()  # every rank's file is complete
        code = EXIT_OK
        if dist.is_main:
            records = merge_results(out, [j.id for j in jobs] + [b.id for b in bad])
            failed = [i for i in [j.id for j in jobs] + [b.id for b in bad] if records.get(i, {}).get("status") != "ok"]
            code = EXIT_JOBS_FAILED if failed else EXIT_OK
            print(
                f"{len(jobs) + len(bad) - len(failed)} of {len(jobs) + len(bad)} jobs ok"
                + (f"; failed: {', '.join(failed[:10])}{' ...' if len(failed) > 10 else ''}" if failed else "")
                + f"; results: {out / RESULTS}"
            )
        return int(dist.broadcast(code))
    finally:
        dist.close()


def shard_jobs(jobs: list[Job], dist) -> list[Job]:
    """This rank's jobs (pending jobs dealt out round-robin by rank)."""
    from common.distributed import shard

    return shard(jobs, dist.rank, dist.world_size)


def main(argv: list[str] | None = None) -> int:
    """`python -m pipeline.batch` / `torchrun -m pipeline.batch`: the CLI with --batch required."""
    from pipeline.cli.main import main as cli_main

    argv = list(sys.argv[1:] if argv is None else argv)
    if (
        "--batch" not in argv
        and not any(a.startswith("--batch=") for a in argv)
        and "-h" not in argv
        and "--help" not in argv
    ):
        print("error: python -m pipeline.batch needs --batch jobs.jsonl --out DIR (see --help)", file=sys.stderr)
        return 2
    return cli_main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
