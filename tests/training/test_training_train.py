"""Training runs: losses, R1 and path length, EMA, ADA, resume, time limit, Ctrl-C, export, the CLI.

Everything runs on CPU with a 16 px model, a few images written into tmp_path and a
handful of steps (the trainer's parts: test_training_parts.py).
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from stylegan.checkpoints import load_generator
from training.dataset import ImageFolderDataset, load_holdout
from training.errors import TrainError
from training.train import (
    TrainConfig,
    Trainer,
    build_networks,
    ema_beta,
    load_train_state,
    main,
    train,
    update_ema,
)

TINY = TrainConfig(
    resolution=16,
    z_dim=16,
    w_dim=16,
    mapping_layers=2,
    channel_base=256,
    channel_max=16,
    batch=4,
    r1_interval=2,
    kimg=0.016,
    snapshot_kimg=0.008,
    log_every=2,
    holdout=None,
    device="cpu",
    export_half=True,
)

# The command-line options of a tiny CPU run without a hold-out set (the networks of TINY).
TINY_CLI = [
    "--resolution",
    "16",
    "--z-dim",
    "16",
    "--w-dim",
    "16",
    "--mapping-layers",
    "2",
    "--channel-base",
    "256",
    "--channel-max",
    "16",
    "--batch",
    "4",
    "--device",
    "cpu",
    "--no-holdout",
]


# ----------------------------------------------------------------------------- training


def test_losses_are_finite_and_r1_runs_on_the_lazy_interval(tmp_path, data_dir):
    config = dataclasses.replace(TINY, kimg=0.02, r1_interval=2)  # 5 steps
    result = train(config, data_dir, tmp_path / "run", progress=False)
    assert result.step == 5 and result.cur_nimg == 20 and len(result.losses) == 5
    for row in result.losses:
        for key in ("loss_G", "loss_D", "loss_Dreal", "loss_Dgen"):
            assert math.isfinite(row[key]) and row[key] > 0
    assert [row["step"] for row in result.losses if "r1" in row] == [0, 2, 4]
    assert all(math.isfinite(row["r1"]) and row["r1"] >= 0 for row in result.losses if "r1" in row)
    out = tmp_path / "run"
    assert (out / "latest.pt").is_file() and (out / "network-final.pt").is_file()
    assert (out / "network-final-fp16.pt").is_file() and result.snapshots
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert log and all("img_per_s" in row and "loss_G" in row for row in log)


def test_progress_in_a_log_file_is_whole_lines(tmp_path, data_dir, capsys):
    # stderr is not a terminal here (a log file): whole lines, never a '\r' redraw.
    train(TINY, data_dir, tmp_path / "run", progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err and err.splitlines() and all(line.startswith("train ") for line in err.splitlines())
    assert " 100% " in err.splitlines()[-1]


def test_path_length_regularisation_runs_lazily(data_dir):
    config = dataclasses.replace(TINY, pl_weight=2.0, pl_interval=2)
    trainer = Trainer(config, torch.device("cpu"))
    real = ImageFolderDataset(data_dir, 16)[0].unsqueeze(0).repeat(4, 1, 1, 1)
    steps = [trainer.train_step(real) for _ in range(3)]
    assert ["pl" in s for s in steps] == [True, False, True]
    assert all(torch.isfinite(s["pl"]) for s in steps if "pl" in s)
    assert trainer.pl_mean > 0


def test_bf16_autocast_path_trains(data_dir):
    # The CUDA mixed-precision path, exercised with CPU autocast (bf16), R1 and path length included.
    config = dataclasses.replace(TINY, amp="bf16", pl_weight=2.0, pl_interval=2)
    trainer = Trainer(config, torch.device("cpu"))
    assert trainer.amp_dtype == torch.bfloat16
    real = torch.stack([ImageFolderDataset(data_dir, 16)[i] for i in range(4)])
    for _ in range(2):
        stats = trainer.train_step(real)
        assert all(torch.isfinite(v) and v.dtype == torch.float32 for v in stats.values())
    assert all(p.dtype == torch.float32 for p in trainer.G.parameters())
    assert Trainer(TINY, torch.device("cpu")).amp_dtype is None  # 'auto' is off on CPU


def test_ema_follows_the_formula_and_differs_from_G(data_dir):
    trainer = Trainer(TINY, torch.device("cpu"))
    real = torch.stack([ImageFolderDataset(data_dir, 16)[i] for i in range(4)])
    assert ema_beta(TINY, 0) == 0.0  # first step copies G
    trainer.train_step(real)
    for p_ema, p in zip(trainer.G_ema.parameters(), trainer.G.parameters()):
        torch.testing.assert_close(p_ema, p, rtol=0, atol=0)
    trainer.train_step(real)
    before = {k: v.clone() for k, v in trainer.G_ema.state_dict().items()}
    beta = ema_beta(TINY, trainer.cur_nimg)
    # Ramp-up: half-life = min(ema_kimg * 1000, 0.05 * cur_nimg) = 0.4 images at cur_nimg 8.
    assert beta == pytest.approx(0.5 ** (4 / (0.05 * 8)))
    trainer.train_step(real)
    params_G = dict(trainer.G.named_parameters())
    differs = False
    for name, p_ema in trainer.G_ema.named_parameters():
        expected = params_G[name].detach() * (1 - beta) + before[name] * beta
        torch.testing.assert_close(p_ema, expected, rtol=1e-6, atol=1e-7)
        differs |= not torch.equal(p_ema, params_G[name])
    assert differs
    torch.testing.assert_close(trainer.G_ema.mapping.w_avg, trainer.G.mapping.w_avg, rtol=0, atol=0)
    assert trainer.G.mapping.w_avg.abs().sum() > 0  # the running w average is tracked


def test_ema_beta_without_rampup_is_the_half_life_formula():
    config = dataclasses.replace(TINY, ema_kimg=2.0, ema_rampup=None)
    assert ema_beta(config, 0) == pytest.approx(0.5 ** (4 / 2000))


def test_update_ema_interpolates():
    G_a, _ = build_networks(TINY)
    G_b, _ = build_networks(TINY)
    expected = {k: 0.25 * v + 0.75 * G_b.state_dict()[k] for k, v in G_a.named_parameters()}
    update_ema(G_a, G_b, 0.25)
    for k, v in G_a.named_parameters():
        torch.testing.assert_close(v, expected[k])


def test_resume_reproduces_the_uninterrupted_run(tmp_path, data_dir):
    full = train(TINY, data_dir, tmp_path / "full", progress=False)  # 4 steps
    assert full.step == 4
    half = train(dataclasses.replace(TINY, kimg=0.008), data_dir, tmp_path / "half", progress=False)
    assert half.step == 2
    resumed = train(TINY, data_dir, tmp_path / "half", resume=tmp_path / "half" / "latest.pt", progress=False)
    assert resumed.step == 4 and [row["step"] for row in resumed.losses] == [2, 3]
    assert resumed.losses == full.losses[2:]  # identical losses, R1 (step 2) included
    a = load_generator(full.final)
    b = load_generator(resumed.final)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_resume_refuses_a_different_architecture(tmp_path, data_dir):
    train(dataclasses.replace(TINY, kimg=0.004), data_dir, tmp_path / "run", progress=False)
    with pytest.raises(TrainError, match="channel_max"):
        train(
            dataclasses.replace(TINY, channel_max=8),
            data_dir,
            tmp_path / "run",
            resume=tmp_path / "run",
            progress=False,
        )
    with pytest.raises(TrainError, match="not found"):
        load_train_state(tmp_path / "nothing.pt")


def test_training_state_loads_with_weights_only(tmp_path, data_dir):
    result = train(dataclasses.replace(TINY, kimg=0.004), data_dir, tmp_path / "run", progress=False)
    state = torch.load(result.state, weights_only=True)
    assert {"G", "D", "G_ema", "opt_G", "opt_D", "rng", "step", "cur_nimg", "config"} <= set(state)
    assert TrainConfig.from_dict(state["config"]) == dataclasses.replace(TINY, kimg=0.004)


def test_time_limit_stops_cleanly_and_resumes(tmp_path, data_dir):
    result = train(TINY, data_dir, tmp_path / "run", progress=False, max_minutes=0.0)
    assert result.step == 1 and result.final is None and result.state.is_file()
    resumed = train(TINY, data_dir, tmp_path / "run", resume=result.state, progress=False)
    assert resumed.step == 4 and resumed.final is not None


def test_dataloader_path_gives_the_cached_batches(tmp_path, data_dir):
    cached = train(dataclasses.replace(TINY, kimg=0.008), data_dir, tmp_path / "a", progress=False)
    loaded = train(
        dataclasses.replace(TINY, kimg=0.008, cache_images=False, workers=0), data_dir, tmp_path / "b", progress=False
    )
    assert cached.losses == loaded.losses


def test_exported_checkpoints_load_as_the_ema_generator(tmp_path, data_dir):
    result = train(dataclasses.replace(TINY, kimg=0.008), data_dir, tmp_path / "run", progress=False)
    state = load_train_state(result.state)
    G32 = load_generator(result.final)
    G16 = load_generator(result.final_half)
    assert G16.img_resolution == 16 and G16.z_dim == TINY.z_dim and G16.num_ws == G32.num_ws
    for key, value in G32.state_dict().items():
        torch.testing.assert_close(value, state["G_ema"][key], rtol=0, atol=0)
        torch.testing.assert_close(G16.state_dict()[key], value, rtol=1e-3, atol=1e-3)
    z = torch.randn(2, TINY.z_dim)
    torch.testing.assert_close(G16(z), G32(z), rtol=0, atol=2e-2)


def test_cli_trains_and_resumes(tmp_path, data_dir, capsys):
    out = tmp_path / "cli"
    tiny_args = [
        *TINY_CLI,
        "--snapshot-kimg",
        "0.004",
        "--no-progress",
    ]
    assert main(["--data", str(data_dir), "--out", str(out), "--kimg", "0.004", *tiny_args]) == 0
    assert "final:" in capsys.readouterr().out
    # Resume takes every setting from the state; only --kimg changes.
    assert (
        main(
            [
                "--data",
                str(data_dir),
                "--out",
                str(out),
                "--resume",
                str(out / "latest.pt"),
                "--kimg",
                "0.008",
                "--no-progress",
            ]
        )
        == 0
    )
    assert load_train_state(out)["step"] == 2
    assert main(["--data", str(tmp_path / "missing"), "--out", str(out), "--kimg", "0.004", *tiny_args]) == 2


def test_ada_moves_p_by_the_nvlabs_step_towards_the_target(data_dir):
    config = dataclasses.replace(TINY, ada_target=0.6, ada_interval=4, ada_kimg=0.1)
    trainer = Trainer(config, torch.device("cpu"))
    delta = config.batch * config.ada_interval / (config.ada_kimg * 1000)  # 0.16 per adjustment
    assert float(trainer.augment_p) == 0.0
    for logits, expected in (
        (torch.ones(4, 1), delta),
        (torch.ones(4, 1), 2 * delta),
        (-torch.ones(4, 1), delta),
        (torch.zeros(4, 1), 0.0),
        (torch.zeros(4, 1), 0.0),
    ):
        for _ in range(config.ada_interval):  # r_t over one interval: 1 (overfitting), -1, 0 (chance)
            trainer._adapt_augment(logits, config.batch)
            trainer.step += 1
        assert float(trainer.augment_p) == pytest.approx(expected)  # clamped at 0 at chance


def test_ada_p_is_logged_saved_and_resumed(tmp_path, data_dir):
    config = dataclasses.replace(TINY, ada_kimg=0.04, ada_interval=1)  # steps of 0.1, to see p move
    result = train(config, data_dir, tmp_path / "run", progress=False)
    ps = [row["augment_p"] for row in result.losses]
    assert all(0.0 <= p <= 1.0 for p in ps) and len(set(ps)) > 1
    assert float(load_train_state(result.state)["augment_p"]) == ps[-1]
    fixed = train(dataclasses.replace(TINY, ada_target=None), data_dir, tmp_path / "fixed", progress=False)
    assert "augment_p" not in fixed.losses[0]


def test_chance_logits_warn(tmp_path, data_dir, capsys, monkeypatch):
    monkeypatch.setattr("training.loop.CHANCE_LOGIT", 1e9)  # every interval counts as chance
    train(dataclasses.replace(TINY, kimg=0.008), data_dir, tmp_path / "run", progress=False)
    err = capsys.readouterr().err
    assert "discriminator is at chance" in err and err.count("warning:") == 1  # once, not every interval


def test_ctrl_c_saves_a_resumable_state_and_exits_130(tmp_path, data_dir, capsys, monkeypatch):
    import signal

    full = train(TINY, data_dir, tmp_path / "full", progress=False)
    original = Trainer.train_step

    def step_then_ctrl_c(self, real):
        stats = original(self, real)
        if self.step == 3:
            signal.raise_signal(signal.SIGINT)  # as a terminal's Ctrl-C, in the middle of the run
        return stats

    monkeypatch.setattr(Trainer, "train_step", step_then_ctrl_c)
    out = tmp_path / "cli"
    tiny_args = [
        *TINY_CLI,
        "--r1-interval",
        "2",
        "--log-every",
        "2",
        "--snapshot-kimg",
        "0.008",
        "--no-progress",
    ]
    assert main(["--data", str(data_dir), "--out", str(out), "--kimg", "0.016", *tiny_args]) == 130
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines()[-1] == "error: interrupted"
    assert load_train_state(out)["step"] == 3  # the step in progress finished, then the state was written
    monkeypatch.setattr(Trainer, "train_step", original)
    resumed = train(TINY, data_dir, out, resume=out / "latest.pt", progress=False)
    assert resumed.losses == full.losses[3:]  # the interrupted run continues exactly
    a, b = load_generator(full.final), load_generator(resumed.final)
    assert all(torch.equal(va, vb) for va, vb in zip(a.state_dict().values(), b.state_dict().values()))


def test_exports_record_the_face_preset_of_the_data(tmp_path, data_dir):
    import json

    (data_dir / "manifest.json").write_text(json.dumps({"preset": "utkface"}))
    result = train(dataclasses.replace(TINY, kimg=0.004), data_dir, tmp_path / "run", progress=False)
    G = load_generator(result.final_half)
    assert G.metadata["face_preset"] == "utkface" and G.metadata["kimg"] == 0.004


def test_train_never_sees_holdout_images(tmp_path, data_dir):
    holdout_file = tmp_path / "holdout.txt"
    holdout_file.write_text("img00.jpg\nimg01.png\n")
    config = dataclasses.replace(TINY, holdout=str(holdout_file), kimg=0.004)
    trainer_images = ImageFolderDataset(data_dir, 16, exclude=load_holdout(holdout_file), cache=True)
    assert trainer_images.num_images == 4 and "img00.png" not in trainer_images.names
    result = train(config, data_dir, tmp_path / "run", progress=False)
    assert result.step == 1
