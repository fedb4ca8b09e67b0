"""The ``predict`` command: chosen cases, or the whole archive (``--all``: streamed in chunks,
resumable, split across torchrun ranks), with an optional export of heatmaps and scores."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from core.errors import InputError


def add_predict_arguments(p) -> None:
    p.add_argument("model")
    p.add_argument("--workspace", "-w", type=Path, required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--case", action="append", help="case id (repeatable)")
    g.add_argument(
        "--all",
        action="store_true",
        help="every case with an image the method scores, in chunks; cases this version scored already are skipped "
        "(unless --rescore); under torchrun the ranks share the cases",
    )
    p.add_argument("--rescore", action="store_true", help="with --all: score again the cases this version has scored")
    p.add_argument("--chunk", type=int, default=32, help="with --all: cases per chunk (bounds memory)")
    p.add_argument("--version", help="model version (default: the active one)")
    p.add_argument("--config", "-c", action="append", default=[], metavar="K=V", help="run-time setting, e.g. device=cpu")
    p.add_argument(
        "--backend",
        choices=("auto", "torch", "onnx"),
        help="frozen encoders: torch or onnx (ONNX Runtime on the CPU); auto (default): the backend the model was fitted with",
    )
    p.add_argument(
        "--export",
        type=Path,
        help="write one float32 heatmap per image (.npy; NIfTI with the source affine for MRI volumes) and scores.csv here",
    )
    p.add_argument("--json", action="store_true")


def parse_config(items: list[str]) -> dict:
    """``--config K=V`` items as strings; the method's settings dataclass types them (ConfigError)."""
    from core.models.config import parse_assignments

    return parse_assignments(items)


def _progress(quiet: bool):
    if quiet:
        return lambda d, t, m: None
    last = [0.0]

    def report(done: int, total: int, message: str) -> None:
        now = time.monotonic()
        if now - last[0] < 0.2 and done < total:
            return
        last[0] = now
        sys.stderr.write(f"\r[{done}/{total}] {message}\033[K")
        sys.stderr.flush()

    return report


def _row(r) -> dict:
    return {"case": r.case_id, "image": r.image, "score": r.score, "raw_score": r.raw_score, "abnormal": r.is_abnormal()}


def cmd_predict(args) -> int:
    from core.models import store
    from core.runtime.device import configure_cpu_threads
    from core.runtime.inference import BACKEND_ENV
    from core.workspace import Workspace

    ws = Workspace.open(args.workspace)
    version = store.require_version(ws, args.model, args.version)  # cheap: before torch is imported
    config = parse_config(args.config)
    configure_cpu_threads()
    if args.backend and args.backend != "auto":
        os.environ[BACKEND_ENV] = args.backend
    if args.all:
        return _predict_archive(args, ws, version, config)
    model = store.load_version(ws, args.model, version, **config)
    ids = args.case
    for cid in ids:
        if not ws.has_case(cid):
            raise InputError(None, f"case '{cid}' not found in {ws.root}")
        if ws.case(cid).image(model.modality) is None:
            raise InputError(None, f"case '{cid}' has no {model.modality} image for {args.model}")
    results, skipped = store.predict_cases(ws, model, ids, progress=_progress(args.json))
    if not args.json:
        sys.stderr.write("\n")
    if args.export:
        from core.models.results_export import export_results

        export_results(ws, results, args.export)
    out = {"model": model.name, "version": model.card.version, "threshold": model.card.threshold, "backend": model.backend}
    _print(args, out | {"results": [_row(r) for r in results], "skipped": skipped})
    return 0


def _predict_archive(args, ws, version: str, config: dict) -> int:
    """``predict --all``: this rank's share of the archive, chunk by chunk; rank 0 reports every
    rank's results (and exports) once all ranks are done."""
    from core.models import store
    from core.models.archive import plan_archive, score_archive
    from core.training import distributed

    info = distributed.init_from_env(str(config.get("device", "auto")))
    model = store.load_version(ws, args.model, version, **config)
    plan = plan_archive(ws, model, rank=info.rank, world_size=info.world_size, rescore=args.rescore)
    rows: list[dict] = []
    quiet = args.json or info.rank != 0
    run = score_archive(
        ws, model, plan, chunk=args.chunk, on_results=lambda rs: rows.extend(_row(r) for r in rs), progress=_progress(quiet)
    )
    mine: dict[str, Any] = {"rows": rows, "skipped": run.skipped, "already_scored": plan.already_scored}
    parts: list[Any] = [mine]
    if info.enabled:
        import torch.distributed as dist

        parts = [None] * info.world_size
        dist.all_gather_object(parts, mine)
    if info.rank == 0:
        if not quiet:
            sys.stderr.write("\n")
        all_rows = sorted((r for p in parts for r in p["rows"]), key=lambda r: r["case"])
        if args.export:
            from core.models.results_export import export_results

            version = model.card.version
            ids = [c.id for c in ws.cases() if c.image(model.modality) is not None]
            stored = (store.load_result(ws, model.name, cid, version) for cid in ids)
            export_results(ws, (r for r in stored if r is not None), args.export)
        out = {
            "model": model.name,
            "version": model.card.version,
            "threshold": model.card.threshold,
            "backend": model.backend,
            "cases": plan.total,
            "already_scored": sum(p["already_scored"] for p in parts),
            "ranks": info.world_size,
            "results": all_rows,
            "skipped": [s for p in parts for s in p["skipped"]],
        }
        _print(args, out)
    if info.enabled:
        distributed.shutdown()
        distributed.leave_process(0)
    return 0


def _print(args, out: dict) -> None:
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for r in out["results"]:
        print(f"{r['case']:<14} {r['image']:<8} score {r['score']:7.2f}  {'ABNORMAL' if r['abnormal'] else 'normal'}")
    if out.get("already_scored"):
        print(
            f"{out['already_scored']} case(s) already scored by {out['model']} {out['version']} were skipped (--rescore scores them again)"
        )
