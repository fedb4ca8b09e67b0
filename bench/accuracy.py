"""Accuracy benchmark built offline from real normal anatomy (the scikit-image fundus photo, the
nilearn MNI152 brain) with held-out synthetic lesions: a larger demo-style workspace (its own
seed), every requested method fitted on the normals and evaluated on held-out normal and lesion
cases, reported as the papers' metric table.

    python -m bench.accuracy [--methods patchcore,resad,mias_sam] [--workspace DIR] [--out ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import device_info, write_json

DEFAULT_METHODS = "patchcore,resad,mias_sam"


def build(root: Path):
    from core.data.demo import DemoPlan, build_demo
    from core.workspace import Workspace
    from core.workspace.workspace import CATALOG_NAME

    if (root / CATALOG_NAME).exists():
        return Workspace.open(root)
    plan = DemoPlan(
        fundus_train=10,
        fundus_test_normal=8,
        fundus_test_lesion=16,
        pair_train=6,
        pair_test_normal=4,
        pair_test_lesion=6,
        oct_stack_pages=5,
        mri_train=3,
        mri_test_normal=2,
        mri_test_lesion=4,
        seed=7,
    )
    return build_demo(root, plan)


def run(methods: list[str], root: Path, device: str, config: dict[str, dict]) -> dict:
    from core.metrics.evaluate import evaluate
    from core.metrics.report import metric_table_md
    from core.models import store

    ws = build(root)
    reports = []
    for name in methods:
        version = store.active_version(ws, name)
        if version is None:
            model = store.fit_on_workspace(ws, name, {"device": device, **config.get(name, {})})
        else:
            model = store.load_version(ws, name, version)
        todo = [
            c.id
            for c in ws.cases()
            if c.split == "test" and c.image(model.modality) is not None and store.load_result(ws, name, c.id, model.card.version) is None
        ]
        store.predict_cases(ws, model, todo)
        rep = evaluate(ws, name, model.card.version)
        rep.pop("images", None)
        rep.pop("curves", None)
        reports.append(rep)
        print(json.dumps({"method": name, **rep["metrics"]}), flush=True)
    return {"device": device_info(), "workspace": str(root), "reports": reports, "table": metric_table_md(reports)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--methods", default=DEFAULT_METHODS)
    p.add_argument("--workspace", default=str(Path.home() / ".cache" / "anomaly-studio-bench" / "accuracy"))
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default="bench/results/accuracy.json")
    a = p.parse_args(argv)
    r = run([m for m in a.methods.split(",") if m], Path(a.workspace), a.device, {})
    write_json(a.out, r)
    print(r["table"])


if __name__ == "__main__":
    main()
