"""Optional check against the NVlabs reference implementation (skipped unless it is available).

Set STYLEGAN2_REF_DIR to a checkout of NVlabs/stylegan2-ada-pytorch or NVlabs/stylegan3
(never vendored here). The check runs in a subprocess (their packages are called
`training`, `torch_utils`, `dnnlib`): it builds a random reference generator, writes
a real network pickle with their persistence module, loads it with `load_generator`
(restricted unpickler, nothing executed) and compares synthesis outputs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REF_DIR = os.environ.get("STYLEGAN2_REF_DIR")

SCRIPT = textwrap.dedent("""
    import os, pickle, sys, tempfile, warnings
    warnings.filterwarnings("ignore")
    import torch
    import dnnlib
    try:
        from training import networks_stylegan2 as nets   # stylegan3 checkout
        flat = True
    except ImportError:
        from training import networks as nets             # stylegan2-ada-pytorch checkout
        flat = False
    from stylegan import load_generator
    worst = 0.0
    for res, cmax, cbase, c_dim, clamp in ((64, 64, 1024, 0, None), (256, 128, 8192, 3, 256)):
        torch.manual_seed(res)
        syn = dict(channel_base=cbase, channel_max=cmax, num_fp16_res=0, conv_clamp=clamp)
        kw = dict(z_dim=32, c_dim=c_dim, w_dim=32, img_resolution=res, img_channels=3,
                  mapping_kwargs=dnnlib.EasyDict(num_layers=2))
        ref = nets.Generator(**kw, **syn) if flat else nets.Generator(**kw, synthesis_kwargs=dnnlib.EasyDict(syn))
        with torch.no_grad():
            for name, p in ref.named_parameters():
                if name.endswith("noise_strength") or name.endswith(".bias"):
                    p.add_(torch.randn_like(p) * 0.2)
            ref.mapping.w_avg.normal_()
        ref.eval().requires_grad_(False)
        path = os.path.join(tempfile.mkdtemp(), "snapshot.pkl")
        with open(path, "wb") as f:
            pickle.dump(dict(G=ref, D=None, G_ema=ref, augment_pipe=None, training_set_kwargs=None), f)
        ours = load_generator(path)
        z = torch.randn(2, 32)
        c = torch.eye(max(c_dim, 1))[:2, :c_dim]
        ws_ref = ref.mapping(z, c, truncation_psi=0.7)
        ws = ours.mapping(z, c if c_dim else None, truncation_psi=0.7)
        ws_plus = ws_ref + 0.3 * torch.randn_like(ws_ref)
        diff = max((ws - ws_ref).abs().max().item(),
                   (ours.synthesis(ws_plus, noise_mode="const") -
                    ref.synthesis(ws_plus, noise_mode="const", force_fp32=True)).abs().max().item())
        worst = max(worst, diff)
    print(f"MAXDIFF {worst:.3e}")
""")


@pytest.mark.slow
@pytest.mark.skipif(
    not REF_DIR or not Path(REF_DIR, "torch_utils", "persistence.py").is_file(),
    reason="set STYLEGAN2_REF_DIR to an NVlabs stylegan2-ada-pytorch or stylegan3 checkout",
)
def test_matches_nvlabs_reference(tmp_path):
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    # Their dnnlib imports `requests` (downloads only) and stylegan3 `pkg_resources` (version checks).
    (stubs / "requests.py").write_text("")
    (stubs / "pkg_resources.py").write_text(
        "import re\ndef parse_version(v):\n    return tuple(int(x) for x in re.findall(r'\\d+', v)[:3])\n"
    )
    probe = subprocess.run([sys.executable, "-c", "import requests, pkg_resources"], capture_output=True)
    path_entries = ([] if probe.returncode == 0 else [str(stubs)]) + [REF_DIR, str(REPO)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path_entries)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    max_diff = float(proc.stdout.split("MAXDIFF")[1])
    assert max_diff <= 1e-4
