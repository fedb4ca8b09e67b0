import io
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from core.errors import CancelledError
from core.runtime.progress import CancelToken
from core.training import Trainer, TrainingContext, seed_everything
from core.training.context import JsonLinesWriter

REPO = Path(__file__).resolve().parents[3]


def _problem():
    seed_everything(0)
    m = torch.nn.Linear(4, 1)
    x = torch.randn(64, 4)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    loader = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    return m, loader


def test_loss_goes_down_and_events_are_json_lines(tmp_path):
    m, loader = _problem()
    buf = io.StringIO()
    t = Trainer(m, torch.optim.SGD(m.parameters(), lr=0.1), context=TrainingContext(run_dir=tmp_path, emit=JsonLinesWriter(buf)))
    state = t.run(
        loader,
        lambda b: {"loss": torch.nn.functional.mse_loss(m(b[0]), b[1]), "mse": torch.nn.functional.mse_loss(m(b[0]), b[1])},
        epochs=4,
    )
    events = [json.loads(line) for line in buf.getvalue().splitlines()]
    steps = [e for e in events if e["event"] == "step"]
    assert len(steps) == 16 and {"epoch", "step", "loss", "terms", "lr", "eta_s"} <= set(steps[0])
    assert steps[0]["terms"]["mse"] == pytest.approx(steps[0]["loss"])
    assert state.history[-1]["loss"] < state.history[0]["loss"] / 5
    assert [e["event"] for e in events][-1] == "end" and (tmp_path / "checkpoint.pt").exists()


def test_resume_continues_exactly(tmp_path):
    fn = lambda m: lambda b: {"loss": torch.nn.functional.mse_loss(m(b[0]), b[1])}  # noqa: E731
    m1, loader = _problem()
    Trainer(m1, torch.optim.Adam(m1.parameters(), lr=0.05), context=TrainingContext(run_dir=tmp_path / "a")).run(loader, fn(m1), epochs=6)
    m2, _ = _problem()
    Trainer(m2, torch.optim.Adam(m2.parameters(), lr=0.05), context=TrainingContext(run_dir=tmp_path / "b")).run(loader, fn(m2), epochs=3)
    m3, _ = _problem()
    t3 = Trainer(m3, torch.optim.Adam(m3.parameters(), lr=0.05), context=TrainingContext(run_dir=tmp_path / "b", resume=True))
    st = t3.run(loader, fn(m3), epochs=6)
    assert st.epoch == 6 and st.step == 24
    for a, b in zip(m1.state_dict().values(), m3.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_cancel_stops_between_steps(tmp_path):
    m, loader = _problem()
    token = CancelToken()
    calls = []

    def step(b):
        calls.append(1)
        if len(calls) == 3:
            token.cancel()
        return {"loss": torch.nn.functional.mse_loss(m(b[0]), b[1])}

    with pytest.raises(CancelledError):
        Trainer(m, torch.optim.SGD(m.parameters(), lr=0.1), cancel=token).run(loader, step, epochs=5)
    assert len(calls) == 3


DDP_SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {repo!r})
    import torch
    from core.training import Trainer, TrainingContext, seed_everything
    from core.training.distributed import init_from_env, leave_process, make_loader, shutdown
    info = init_from_env("cpu")
    seed_everything(0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    if info.rank == 1:  # different start: DDP must broadcast rank 0's weights
        torch.nn.init.constant_(m[0].weight, 0.3)
    x = torch.randn(64, 4); y = x.sum(1, keepdim=True)
    ds = torch.utils.data.TensorDataset(x, y)
    loader = make_loader(ds, batch_size=8, shuffle=True, seed=0)
    events = []
    t = Trainer(m, torch.optim.SGD(m.parameters(), lr=0.05), context=TrainingContext(rank=info.rank, world_size=info.world_size, emit=events.append))
    t.run(loader, lambda b: {{"loss": torch.nn.functional.mse_loss(t.train_module(b[0]), b[1])}}, epochs=3)
    from core.training.distributed import state_checksum
    print(json.dumps({{"rank": info.rank, "sum": state_checksum(m), "events": [e["event"] for e in events],
                      "ranks": [e for e in events if e["event"] == "ranks"]}}), flush=True)
    shutdown()
    leave_process(0)  # as `anomaly-studio train` does: gloo's threads can abort interpreter teardown
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_end_with_identical_weights(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(repo=str(REPO)))
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(
            os.environ,
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE="2",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
            OMP_NUM_THREADS="1",
        )
        procs.append(subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (o, e) in zip(procs, outs):
        assert p.returncode == 0, (o, e)
    res = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    assert res[0]["sum"] == res[1]["sum"]
    assert res[0]["ranks"][0]["consistent"] is True and res[0]["ranks"][0]["world_size"] == 2
    assert res[1]["events"] == []  # only rank 0 reports progress
