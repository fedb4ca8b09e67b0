"""Archive scale: ``predict --all`` streams cases in chunks, resumes (skips cases this version has
scored unless --rescore), runs unchanged under torchrun with the cases split across ranks, and the
read-ahead / store-behind pipeline gives exactly the sequential results."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

from core.cli import main
from core.models import store
from core.models.archive import plan_archive, rank_share
from core.models.prefetch import Pipeline
from core.workspace import Workspace

FAST = ["backbone=wide_resnet50", "backbone_weights=random", "image_size=64", "coreset_ratio=0.05", "device=cpu"]


@pytest.fixture(scope="module")
def fitted_master(small_demo_master, tmp_path_factory):
    root = tmp_path_factory.mktemp("archive") / "ws"
    shutil.copytree(small_demo_master, root)
    args = ["fit", "patchcore", "--workspace", str(root), "--json"]
    for kv in FAST:
        args += ["--config", kv]
    assert main(args) == 0
    return root


@pytest.fixture
def fitted(fitted_master, tmp_path):
    dst = tmp_path / "ws"
    shutil.copytree(fitted_master, dst, ignore=shutil.ignore_patterns("*.lock"))  # the WAL holds the fitted version
    return dst


def test_rank_share_is_a_disjoint_cover():
    ids = [f"c{i:02d}" for i in range(11)]
    shares = [rank_share(ids, r, 3) for r in range(3)]
    assert shares[1] == ["c01", "c04", "c07", "c10"]
    assert sorted(sum(shares, [])) == ids
    with pytest.raises(ValueError):
        rank_share(ids, 3, 3)


def test_pipeline_keeps_order_and_raises_in_the_caller():
    seen_threads = set()

    def load(i):
        seen_threads.add(threading.current_thread().name)
        if i == 7:
            raise OSError("unreadable case 7")
        return i * 10

    out = []
    with Pipeline(load, range(5), ahead=2) as pipe:
        for i, v in pipe:
            pipe.store(lambda a, b: (a, b), i, v)
        out = pipe.results()
    assert out == [(i, i * 10) for i in range(5)] and all(n.startswith("prefetch-read") for n in seen_threads)
    with pytest.raises(OSError, match="case 7"), Pipeline(load, [6, 7, 8]) as pipe:
        for _ in pipe:
            pass


def test_predict_all_resumes_and_chunks(fitted, capsys):
    ws = Workspace.open(fitted)
    model = store.load_version(ws, "patchcore")
    every = plan_archive(ws, model).todo
    assert len(every) >= 4
    first = every[:2]
    assert main(["predict", "patchcore", "--workspace", str(fitted), "--case", first[0], "--case", first[1], "--json"]) == 0
    capsys.readouterr()
    assert main(["predict", "patchcore", "--workspace", str(fitted), "--all", "--chunk", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["already_scored"] == 2 and out["cases"] == len(every)
    assert sorted(r["case"] for r in out["results"]) == sorted(every[2:])
    assert set(store.scores_for(ws, "patchcore")) == set(every)
    # nothing left: a rerun scores nothing; --rescore scores all again
    assert main(["predict", "patchcore", "--workspace", str(fitted), "--all", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["results"] == [] and again["already_scored"] == len(every)
    assert main(["predict", "patchcore", "--workspace", str(fitted), "--all", "--rescore", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["results"]) == len(every)


def test_prefetched_results_equal_sequential_ones(fitted):
    ws = Workspace.open(fitted)
    model = store.load_version(ws, "patchcore")
    ids = plan_archive(ws, model).todo[:3]
    piped, _ = store.predict_cases(ws, model, ids, prefetch=2)
    for cid, r in zip(ids, piped, strict=True):
        alone = model.predict(ws.load_case(cid))
        heat, _mask = store.result_arrays(ws, r)
        assert r.case_id == cid and r.score == alone.score
        np.testing.assert_array_equal(heat, alone.heatmap)
    import h5py

    with h5py.File(ws.arrays.path, "r") as f:  # 2-D maps are written plain (lzf gained ~1 % and cost ~10x the time)
        assert f[piped[0].images[piped[0].image].heatmap_key].compression is None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_predict_all_under_torchrun_splits_cases_across_ranks(fitted):
    ws = Workspace.open(fitted)
    every = plan_archive(ws, store.load_version(ws, "patchcore")).todo
    ws.close()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1"]
    cmd += ["--master_port", str(_free_port()), "-m", "app.main", "predict", "patchcore", "--workspace", str(fitted)]
    cmd += ["--all", "--chunk", "2", "--json", "--config", "device=cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout[proc.stdout.index("{") :])  # rank 0 alone prints, every rank's results
    assert out["ranks"] == 2 and sorted(r["case"] for r in out["results"]) == sorted(every)
    ws = Workspace.open(fitted)
    stored = {cid: store.load_result(ws, "patchcore", cid) for cid in every}
    assert all(r is not None for r in stored.values())
    # each rank scored its own share: results equal the single-process ones
    model = store.load_version(ws, "patchcore")
    cid = every[1]  # rank 1's first case
    assert stored[cid].score == pytest.approx(model.predict(ws.load_case(cid)).score, abs=1e-6)
