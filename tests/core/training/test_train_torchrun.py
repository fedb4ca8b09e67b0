"""`anomaly-studio train` runs unchanged under torchrun: two CPU processes (gloo) train a tiny
ReSynthDetect with DistributedDataParallel, end with identical weights (the trainer gathers a
checksum of every rank's weights after each stage), and only rank 0 prints and registers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from core.models import store
from core.workspace import Workspace

TINY = dict(
    device="cpu",
    image_size=64,
    base_channels=8,
    levels=4,
    batch_size=4,
    samples_per_epoch=8,
    epochs=2,
    ae_epochs=1,
    warmup_epochs=0,
    seed=5,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_gloo_ranks_train_identical_weights(small_demo):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        "-m",
        "app.main",
        "train",
        "resynthdetect",
        "--workspace",
        str(small_demo),
        "--run-id",
        "ddp-run",
    ]
    for k, v in TINY.items():
        cmd += ["--config", f"{k}={v}"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    ranks = [e for e in events if e["event"] == "ranks"]
    assert {e["stage"] for e in ranks} == {"autoencoder", "localization"}
    for e in ranks:
        assert e["world_size"] == 2 and e["consistent"] is True and len(set(e["checksums"])) == 1
    # rank 0 alone reports and writes: one run event, one done event, one registered version
    assert sum(e["event"] == "run" for e in events) == 1 and events[0]["world_size"] == 2
    assert [e["event"] for e in events][-1] == "done"
    ws = Workspace.open(small_demo)
    assert [v.version for v in store.list_versions(ws, "resynthdetect")] == ["ddp-run"]
    run = json.loads((small_demo / "runs" / "ddp-run" / "run.json").read_text())
    assert run["status"] == "done" and run["world_size"] == 2
    model = store.load_version(ws, "resynthdetect", "ddp-run")
    case = ws.load_case("FUN-L01")
    assert model.predict(case).heatmap.shape == case.first("fundus").array.shape[:2]
