"""Hostile-input robustness: several hundred bad or hostile inputs through the command line.

    python -m bench.robustness [--jobs 2] [--keep DIR] [--out results.json]

Every input (bench/robustness_cases.py) runs as its own ``anomaly-studio`` process. Printed:
inputs tried, clean refusals (exit 2 naming the file or id), crashes (exit 1, a signal, a
traceback or a hang: must be 0), the peak memory of the worst refusal (each child's own
``ru_maxrss`` from ``wait4``: must stay under 300 MB), data lost (a label, label volume, stored
array, review or image of the workspace that no longer reads back as before: must be 0) and
escapes (a file outside the workspace read, written or exported: must be 0).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import robustness_cases as C  # noqa: E402
from bench import robustness_cases_ws as W  # noqa: E402
from tests.helpers import hostile_files as H  # noqa: E402

TIMEOUT_S = 180
WORKSPACE = Path()  # the workspace under test (set by main)
SECRET = "top secret: this file lies outside every workspace"


def build_workspace(root: Path) -> dict:
    """The workspace every input is thrown at, with canaries whose content is recorded."""
    from core.domain import CaseKind, Modality
    from core.io.labelme import Shape
    from core.io.volume import Volume
    from core.workspace import NewImage, Workspace

    ws = Workspace.create(root)
    rng = np.random.default_rng(0)
    for i in range(4):
        img = rng.integers(0, 255, (96, 128), dtype=np.uint8)
        ws.add_case(f"N{i}", CaseKind.FUNDUS, [NewImage("fundus", Modality.FUNDUS, array=img)], split="train", truth="normal")
    ws.add_case("LBL", CaseKind.FUNDUS, [NewImage("fundus", Modality.FUNDUS, array=rng.integers(0, 255, (48, 64), dtype=np.uint8))])
    ws.add_case("OCT1", CaseKind.OCT, [NewImage("oct", Modality.OCT, array=rng.integers(0, 255, (3, 64, 80), dtype=np.uint8))])
    vol = Volume(rng.random((8, 9, 10)).astype(np.float32), np.eye(4), (1.0, 1.0, 1.0))
    ws.add_case("MRI1", CaseKind.MRI, [NewImage("t1", Modality.MRI, volume=vol)])
    rec = ws.case("N0").image("fundus")
    doc = ws.new_label_document(rec)
    doc.shapes.append(Shape("retinal hemorrhage", [[5, 5], [40, 8], [30, 40]]))
    ws.write_labels(rec, doc, user="bench")
    mri = ws.case("MRI1").images[0]
    labels = np.zeros(mri.shape, np.uint8)
    labels[2:5, 3:6, 4:7] = 2
    ws.write_label_volume(mri, labels, {"peritumoural edema": 2}, user="bench")
    ws.set_review("N1", "bench", decision="abnormal", comment="canary review")
    ws.arrays.put("results/canary/v1/heatmap", rng.random((96, 128)).astype(np.float32))
    ws.catalog.backup()
    ws.close()
    return snapshot(root)


def snapshot(root: Path) -> dict:
    """What must still read back after the run (raises nothing: failures are recorded)."""
    from core.workspace import Workspace

    out: dict = {}
    try:
        ws = Workspace.open(root)
    except Exception as exc:  # noqa: BLE001 - a lost workspace is the worst data loss; recorded
        return {"catalog": f"unreadable: {exc}"}
    out["cases"] = sorted(ws.case_ids())
    for cid in ("N0", "N1", "N2", "N3", "LBL", "OCT1", "MRI1"):
        try:
            out[f"pixels {cid}"] = [
                hashlib.sha256(np.ascontiguousarray(ws.read_pixels(im)).tobytes()).hexdigest() for im in ws.case(cid).images
            ]
        except Exception as exc:  # noqa: BLE001
            out[f"pixels {cid}"] = f"unreadable: {exc}"
    try:
        doc = ws.read_labels(ws.case("N0").image("fundus"))
        out["label N0"] = json.dumps([s.to_json() for s in doc.shapes], sort_keys=True)
        vol, legend = ws.read_label_volume(ws.case("MRI1").images[0])
        out["label volume MRI1"] = [hashlib.sha256(vol.tobytes()).hexdigest(), legend]
        out["review N1"] = [r["comment"] for r in ws.reviews("N1")]
        heat = ws.arrays.get("results/canary/v1/heatmap")
        out["array canary"] = None if heat is None else hashlib.sha256(heat.tobytes()).hexdigest()
    except Exception as exc:  # noqa: BLE001
        out["labels"] = f"unreadable: {exc}"
    ws.close()
    return out


def _env(home: Path, extra: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), ANOMALY_STUDIO_HOME=str(home), ANOMALY_STUDIO_USER="bench")
    env.update(NO_ALBUMENTATIONS_UPDATE="1", QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1")
    env.update(extra)
    return env


_HOLD = "import sys, time\nsys.path.insert(0, {repo!r})\nfrom core.workspace import Workspace\nws = Workspace.open({w!r})\n"
_HOLD += "with ws.catalog.transaction():\n    print('holding', flush=True)\n    time.sleep(120)\n"


# A small process that starts the commands: a child's peak RSS (ru_maxrss) starts at the RSS of
# the process that forked it, so children of this bench (numpy, pydicom loaded) would all report
# its 100 MB. Children of this spawner report their own peak.
_SPAWNER = r"""
import json, os, signal, subprocess, sys, threading, time
for line in sys.stdin:
    job = json.loads(line)
    out = open(job["stdout"], "wb")
    err = open(job["stderr"], "wb")
    target = out
    if job["closed_stdout"]:
        r, w = os.pipe()
        os.close(r)
        target = w
    t0 = time.monotonic()
    proc = subprocess.Popen(job["argv"], cwd=job["cwd"], stdout=target, stderr=err, env=job["env"])
    if target is not out:
        os.close(target)
    timer = threading.Timer(job["timeout"], lambda: proc.send_signal(signal.SIGKILL))
    timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.close(); err.close()
    print(json.dumps({"rc": proc.returncode, "maxrss_kb": usage.ru_maxrss, "seconds": time.monotonic() - t0}), flush=True)
"""


class Spawner:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-S", "-c", _SPAWNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lock = threading.Lock()

    def run(self, argv, env, stdout, stderr, closed_stdout) -> dict:
        job = {"argv": argv, "env": env, "stdout": str(stdout), "stderr": str(stderr), "closed_stdout": closed_stdout}
        job.update(cwd=str(REPO), timeout=TIMEOUT_S)
        with self.lock:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


_SPAWNERS = threading.local()


def run_case(case: C.Case, home: Path, logs: Path, index: int) -> dict:
    spawner = getattr(_SPAWNERS, "one", None)
    if spawner is None:
        spawner = _SPAWNERS.one = Spawner()
        ALL_SPAWNERS.append(spawner)
    holder = None
    if case.hold_db:
        holder = subprocess.Popen([sys.executable, "-c", _HOLD.format(repo=str(REPO), w=case.hold_db)], stdout=subprocess.PIPE, text=True)
        holder.stdout.readline()
    out_path, err_path = logs / f"{index}.out", logs / f"{index}.err"
    cmd = [sys.executable, "-m", "app.main", *case.argv]
    if case.full_disk_mb is not None:
        cmd = _in_full_tmpfs(case, logs / f"mnt{index}")
    done = spawner.run(cmd, _env(home, case.env), out_path, err_path, case.closed_stdout)
    if holder is not None:
        holder.kill()
        holder.wait()
    stderr = err_path.read_text(errors="replace")
    return {"case": case, "rc": done["rc"], "rss_mb": done["maxrss_kb"] / 1024, "seconds": done["seconds"], "stderr": stderr}


ALL_SPAWNERS: list[Spawner] = []


def _in_full_tmpfs(case: C.Case, mnt: Path) -> list[str]:
    """``unshare -rm``: a private mount namespace with a tiny tmpfs holding a copy of the workspace
    (``full_disk_mb=-1``: 3 MB, then filled up with a ballast file before the command runs)."""
    import shlex

    mnt.mkdir(parents=True, exist_ok=True)
    ws_copy = f"{mnt}/ws"
    argv = [a.replace("{ws}", ws_copy) for a in case.argv]
    size = 3 if case.full_disk_mb in (None, -1) else case.full_disk_mb
    fill = f" && (dd if=/dev/zero of={mnt}/ballast bs=64k 2>/dev/null; true)" if case.full_disk_mb == -1 else ""
    script = (
        f"mount -t tmpfs -o size={size}m tmpfs {mnt} && cp -a {shlex.quote(str(WORKSPACE))} {ws_copy}{fill} && "
        f"exec {shlex.quote(sys.executable)} -m app.main {' '.join(shlex.quote(a) for a in argv)}"
    )
    return ["unshare", "-rm", "sh", "-c", script]


def classify(r: dict) -> str:
    case, rc, err = r["case"], r["rc"], r["stderr"]
    if rc < 0 or r["seconds"] >= TIMEOUT_S - 1:
        return "crash"
    if "Traceback" in err or "unexpected error" in err or rc == 1 or (rc > 128 and rc != 141):
        return "crash"
    if case.expect_rc is not None:
        return "expected" if rc == case.expect_rc else "unexpected exit"
    if rc == 2:
        return "clean refusal" if not case.names or case.names in err else "refusal without the name"
    if rc == 0:
        if case.must_refuse:
            return "accepted hostile input"
        return "accepted silently" if case.mention and case.mention not in err else "accepted"
    return "unexpected exit"


def escapes(root: Path, outside: Path, secret_sha: str, targets: dict[Path, bool]) -> list[str]:
    """The secret outside was neither changed nor exported; no hostile id created a path outside."""
    found = []
    if hashlib.sha256((outside / "secret.txt").read_bytes()).hexdigest() != secret_sha:
        found.append("outside/secret.txt was modified")
    for folder in [p for p in root.iterdir() if p.name.startswith(("export-", "exp-"))]:
        for p in folder.rglob("*"):
            if p.is_file() and SECRET.encode() in p.read_bytes():
                found.append(f"secret copied into {p}")
    found += [f"created outside the workspace: {t}" for t, existed in targets.items() if t.exists() and not existed]
    return found


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--keep", type=Path, help="keep the generated inputs and logs in this folder")
    p.add_argument("--out", type=Path, help="also write the figures as JSON here")
    p.add_argument("--sample", type=int, help="run only every N-th input (a quick check of the bench itself)")
    args = p.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="robustness-")) if args.keep is None else args.keep
    base.mkdir(parents=True, exist_ok=True)
    root, home, logs, outside = base / "work", base / "home", base / "logs", base / "outside"
    for d in (root, home, logs, outside):
        d.mkdir(parents=True, exist_ok=True)
    (outside / "secret.txt").write_text(SECRET)
    H.valid_png(outside / "secret.png", (40, 50), seed=9)
    secret_sha = hashlib.sha256((outside / "secret.txt").read_bytes()).hexdigest()
    load_before = os.getloadavg()
    ws = root / "ws"
    global WORKSPACE
    WORKSPACE = ws
    expected = build_workspace(ws)
    cases = (
        C.image_cases(root / "in", ws)
        + C.nifti_cases(root / "in", ws)
        + C.dicom_cases(root / "in", ws)
        + C.json_cases(root / "in", ws)
        + W.labelme_cases(root / "in", ws)
        + W.filesystem_cases(root / "in", ws, outside)
        + W.catalog_cases(root, ws, outside)
        + W.id_cases(ws, base)
        + W.full_disk_cases(root / "in", ws)
    )
    if args.sample:
        cases = cases[:: args.sample]
    targets = {t: t.exists() for t in W.escape_targets(ws, base)}
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda ic: run_case(ic[1], home, logs, ic[0]), enumerate(cases)))
    wall = time.monotonic() - t0
    for spawner in ALL_SPAWNERS:
        spawner.close()
    for r in results:
        r["outcome"] = classify(r)
    got = snapshot(ws)
    lost = [k for k in expected if k != "cases" and got.get(k) != expected[k]]
    lost += [f"case {c}" for c in expected.get("cases", []) if c not in got.get("cases", [])]
    leaks = escapes(root, outside, secret_sha, targets)
    refusals = [r for r in results if r["outcome"] == "clean refusal"]
    worst = max(refusals, key=lambda r: r["rss_mb"]) if refusals else None
    by_outcome: dict[str, int] = {}
    by_class: dict[str, dict] = {}
    for r in results:
        by_outcome[r["outcome"]] = by_outcome.get(r["outcome"], 0) + 1
        k = by_class.setdefault(r["case"].klass, {"inputs": 0, "max_rss_mb": 0.0})
        k["inputs"] += 1
        k[r["outcome"]] = k.get(r["outcome"], 0) + 1
        k["max_rss_mb"] = round(max(k["max_rss_mb"], r["rss_mb"]), 1)
    bad = [r for r in results if r["outcome"] not in ("clean refusal", "accepted", "expected")]
    summary = {
        "inputs": len(results),
        "clean_refusals": by_outcome.get("clean refusal", 0),
        "crashes": by_outcome.get("crash", 0),
        "outcomes": by_outcome,
        "worst_refusal_peak_rss_mb": round(worst["rss_mb"], 1) if worst else None,
        "worst_refusal": worst["case"].name if worst else None,
        "data_lost": len(lost),
        "lost": lost,
        "escapes": len(leaks),
        "escape_details": leaks,
        "by_class": by_class,
        "problems": [{"case": r["case"].name, "outcome": r["outcome"], "rc": r["rc"], "stderr": r["stderr"][-300:]} for r in bad],
        "wall_s": round(wall, 1),
        "jobs": args.jobs,
        "cpus": os.cpu_count(),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)
    ok = summary["crashes"] == 0 and not lost and not leaks and (worst is None or worst["rss_mb"] < 300)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
