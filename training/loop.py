"""The training loop's machinery: the step loop, its log, snapshots, and Ctrl-C at a step boundary.

`training.train.train` sets a run up (data, networks, resume) and hands it to `train_loop`,
which steps the `Trainer` until kimg, writes `log.jsonl` through `RunLog`, snapshots on
schedule (`write_snapshot`) and stops at the time limit or on Ctrl-C with a resumable state.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from common.device import synchronize
from common.fileio import atomic_save
from stylegan.checkpoints import save_generator
from training.trainer import Trainer, _BatchSource

__all__ = ["TrainResult", "RunLog", "CHANCE_LOGIT", "write_snapshot", "deferred_interrupt", "train_loop"]


@dataclass
class TrainResult:
    """What `train` did.

    Attributes:
        out_dir: the output folder.
        step: number of training steps done in total (also before a resume).
        cur_nimg: number of real images shown in total.
        losses: one dict per step of *this* call: 'step', 'loss_G', 'loss_D',
            'loss_Dreal', 'loss_Dgen', 'logits_real', 'logits_fake', plus 'r1' on
            the lazy R1 steps and 'pl' on the lazy path-length steps.
        snapshots: the network-snapshot files written by this call.
        final: network-final.pt, or None when the run stopped early (time limit).
        final_half: network-final-fp16.pt, or None.
        state: the latest.pt file.
        images_per_second: mean training speed of this call.
    """

    out_dir: Path
    step: int
    cur_nimg: int
    losses: list[dict[str, float]] = field(default_factory=list)
    snapshots: list[Path] = field(default_factory=list)
    final: Path | None = None
    final_half: Path | None = None
    state: Path | None = None
    images_per_second: float = 0.0


# A discriminator whose mean logits stay this close to 0 on reals and fakes alike cannot tell
# them apart (loss_D = 2 ln 2): the face64 run sat there from 15 kimg on under full DiffAugment.
CHANCE_LOGIT = 0.02


class RunLog:
    """Per-step stats -> averaged `log.jsonl` records and the progress bar, one device sync per interval."""

    def __init__(self, trainer: Trainer, out_dir: Path, result: TrainResult, bar, start_time: float):
        self.trainer, self.result, self.bar, self.start_time = trainer, result, bar, start_time
        self.pending: list[tuple[int, dict[str, torch.Tensor]]] = []
        self.file = open(out_dir / "log.jsonl", "a")
        self.interval_time, self.interval_nimg = time.perf_counter(), trainer.cur_nimg
        self.warned_chance = False

    def add(self, step: int, stats: dict[str, torch.Tensor]) -> None:
        """Keeps one step's stats (device tensors, not synced); writes a record every `log_every` steps."""
        self.pending.append((step, stats))
        if len(self.pending) >= self.trainer.config.log_every:
            self.flush()

    def flush(self) -> None:
        """Averages the pending steps into one `log.jsonl` record and the bar's postfix (one device sync)."""
        if not self.pending:
            return
        trainer = self.trainer
        flat = [(i, key, value) for i, (_, stats) in enumerate(self.pending) for key, value in stats.items()]
        values = torch.stack([value.float() for _, _, value in flat]).cpu().tolist()
        rows = [{"step": step} for step, _ in self.pending]
        for (i, key, _), value in zip(flat, values):
            rows[i][key] = value
        self.result.losses.extend(rows)
        self.pending.clear()
        synchronize(trainer.device)
        now = time.perf_counter()
        speed = (trainer.cur_nimg - self.interval_nimg) / max(now - self.interval_time, 1e-9)
        self.interval_time, self.interval_nimg = now, trainer.cur_nimg
        keys = sorted({key for row in rows for key in row} - {"step"})
        means = {key: sum(row[key] for row in rows if key in row) / sum(key in row for row in rows) for key in keys}
        record = {
            "step": trainer.step,
            "kimg": trainer.cur_nimg / 1000,
            "img_per_s": speed,
            "minutes": (now - self.start_time) / 60,
            **means,
        }
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        self._warn_at_chance(means)
        self.bar.set_postfix(
            {
                "G": f"{means.get('loss_G', float('nan')):.3f}",
                "D": f"{means.get('loss_D', float('nan')):.3f}",
                "r1": f"{means['r1']:.3g}" if "r1" in means else "-",
                "p": f"{means['augment_p']:.2f}" if "augment_p" in means else "-",
                "img/s": f"{speed:.0f}",
            },
            refresh=False,
        )

    def _warn_at_chance(self, means: dict[str, float]) -> None:
        at_chance = (
            abs(means.get("logits_real", 1.0)) < CHANCE_LOGIT and abs(means.get("logits_fake", 1.0)) < CHANCE_LOGIT
        )
        if at_chance and not self.warned_chance:
            fix = (
                "ADA is lowering the augmentation probability"
                if self.trainer.config.ada_target is not None
                else "lighten --augment (e.g. translation) or enable ADA"
            )
            print(
                f"warning: the discriminator is at chance at kimg {self.trainer.cur_nimg / 1000:g} (mean logits "
                f"real {means['logits_real']:+.3f}, fake {means['logits_fake']:+.3f}); {fix}",
                file=sys.stderr,
                flush=True,
            )
        self.warned_chance = at_chance

    def close(self) -> None:
        """Closes `log.jsonl`."""
        self.file.close()


def write_snapshot(trainer: Trainer, out_dir: Path, result: TrainResult, final: bool) -> None:
    """Writes the G_ema snapshot and `latest.pt` (and, when `final`, network-final[-fp16].pt) into `out_dir`.

    The files written are recorded in `result` (snapshots, state, final, final_half).
    """
    config = trainer.config
    kimg_tag = f"{trainer.cur_nimg // 1000:06d}"
    trainer.G_ema.metadata["kimg"] = trainer.cur_nimg / 1000
    result.snapshots.append(save_generator(trainer.G_ema, out_dir / f"network-snapshot-{kimg_tag}.pt"))
    result.state = atomic_save(trainer.state_dict(), out_dir / "latest.pt")
    if config.keep_states:
        atomic_save(trainer.state_dict(), out_dir / f"training-state-{kimg_tag}.pt")
    if final:
        result.final = save_generator(trainer.G_ema, out_dir / "network-final.pt")
        if config.export_half:
            result.final_half = save_generator(trainer.G_ema, out_dir / "network-final-fp16.pt", half=True)


@contextlib.contextmanager
def deferred_interrupt():
    """Ctrl-C (SIGINT) sets a flag instead of raising mid-step, so the state saved is a step boundary.

    Yields a one-element list that becomes [True] on SIGINT. Off the main thread (where signal
    handlers cannot be set) Ctrl-C raises as usual.
    """
    import signal
    import threading

    flag = [False]
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        flag[0] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def train_loop(
    trainer: Trainer,
    source: _BatchSource,
    log: RunLog,
    out_dir: Path,
    result: TrainResult,
    max_minutes: float | None,
    interrupted: list[bool],
) -> None:
    """Steps until kimg, snapshotting on schedule; stops at the time limit or on Ctrl-C (state saved).

    Args:
        trainer: the networks, optimisers and counters (advanced in place).
        source: the batches of real images, (batch, 3, R, R) float in [-1, 1] on the trainer's device.
        log: where each step's stats go (`log.jsonl`, the bar).
        out_dir: the run folder (snapshots, `latest.pt`).
        result: filled in place (snapshots, final files, state).
        max_minutes: wall-time limit from `log.start_time`, None = none.
        interrupted: from `deferred_interrupt`; [True] once Ctrl-C was pressed.

    Raises:
        KeyboardInterrupt: after Ctrl-C, once the step in progress is done and `latest.pt`
            is written (its path in the exception's `state` attribute).
    """
    config = trainer.config
    total_nimg = config.total_nimg
    snapshot_nimg = int(round(config.snapshot_kimg * 1000))
    next_snapshot = (trainer.cur_nimg // snapshot_nimg + 1) * snapshot_nimg
    start_time = log.start_time
    stopped_early = False
    while trainer.cur_nimg < total_nimg:
        real = source.next()
        log.add(trainer.step, trainer.train_step(real))
        log.bar.update(min(config.batch, total_nimg - log.bar.n))
        done = trainer.cur_nimg >= total_nimg
        timed_out = max_minutes is not None and (time.perf_counter() - start_time) / 60 >= max_minutes
        if trainer.cur_nimg >= next_snapshot or done or timed_out:
            log.flush()
            while next_snapshot <= trainer.cur_nimg:
                next_snapshot += snapshot_nimg
            write_snapshot(trainer, out_dir, result, final=done)
        if interrupted[0]:
            log.flush()
            result.state = atomic_save(trainer.state_dict(), out_dir / "latest.pt")
            exc = KeyboardInterrupt()
            exc.state = result.state
            raise exc
        if timed_out and not done:
            stopped_early = True
            break
    log.flush()
    if result.state is None and not stopped_early:
        write_snapshot(trainer, out_dir, result, final=True)  # resumed a run that was already complete
