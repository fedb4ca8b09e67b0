"""Model commands of the command line: models, fit, predict, eval."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.cli_predict import _progress, add_predict_arguments, cmd_predict, parse_config
from core.errors import InputError, StudioError

if TYPE_CHECKING:
    pass


def add_model_commands(sub) -> None:
    m = sub.add_parser("models", help="list the registered methods and their cards")
    m.add_argument("--workspace", "-w", type=Path, help="also list the fitted versions in this workspace")
    m.add_argument("--json", action="store_true")

    f = sub.add_parser("fit", help="fit a method on the workspace's normal cases")
    f.add_argument("model")
    f.add_argument("--workspace", "-w", type=Path, required=True)
    f.add_argument("--config", "-c", action="append", default=[], metavar="K=V", help="method setting (repeatable)")
    f.add_argument("--no-activate", action="store_true", help="keep the currently active version active")
    f.add_argument("--json", action="store_true")

    add_predict_arguments(sub.add_parser("predict", help="run a fitted method on cases and store the results"))

    t = sub.add_parser("train", help="train a method, printing JSON-lines progress (epoch, step, loss terms, eta_s)")
    t.add_argument("model")
    t.add_argument("--workspace", "-w", type=Path, required=True)
    t.add_argument("--config", "-c", action="append", default=[], metavar="K=V", help="method setting (repeatable)")
    t.add_argument(
        "--run-id",
        "--run",
        dest="run",
        help="run id (default: a new one; the same on every rank under torchrun); with --resume, the run to continue",
    )
    t.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    t.add_argument("--no-activate", action="store_true")

    th = sub.add_parser("threshold", help="show or change a fitted model's operating threshold (calibrated units)")
    th.add_argument("model")
    th.add_argument("--workspace", "-w", type=Path, required=True)
    th.add_argument("--version")
    th.add_argument("--set", type=float, dest="value", help="new threshold (z-score against held-out normals)")
    th.add_argument("--json", action="store_true")

    e = sub.add_parser("eval", help="evaluate fitted methods on the workspace's test cases (several: a comparison)")
    e.add_argument("model", nargs="+", help="one or more methods; with several, --report also writes a comparison")
    e.add_argument("--workspace", "-w", type=Path, required=True)
    e.add_argument("--version")
    e.add_argument("--report", type=Path, help="write the report (JSON, CSV) into this folder")
    e.add_argument("--json", action="store_true")


def cmd_models(args) -> int:
    from core.models import list_models
    from core.runtime.weights import available

    out: dict[str, Any] = {"methods": list_models(), "weights": available()}
    if args.workspace:
        from core.models import store
        from core.workspace import Workspace

        ws = Workspace.open(args.workspace)
        try:
            out["versions"] = [v.to_json() for v in store.list_versions(ws)]
        finally:
            ws.close()
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for m in out["methods"]:
        print(f"{m['name']:<14} {m['title']}  [{', '.join(m['modalities'])}]")
        print(f"{'':<14} {m['paper']}")
    print("\nweights:")
    for k, w in out["weights"].items():
        print(f"  {k:<16} {'available' if w['available'] else 'missing'}")
    for v in out.get("versions", []):
        print(f"  {v['name']} {v['version']}{'  (active)' if v['active'] else ''}")
    return 0


def cmd_fit(args) -> int:
    from core.models import store
    from core.runtime.device import configure_cpu_threads
    from core.workspace import Workspace

    configure_cpu_threads()
    ws = Workspace.open(args.workspace)
    t0 = time.monotonic()
    model = store.fit_on_workspace(
        ws, args.model, parse_config(args.config), progress=_progress(args.json), activate_new=not args.no_activate, user="cli"
    )
    if not args.json:
        sys.stderr.write("\n")
    card = model.card
    out = {
        "model": model.name,
        "version": card.version,
        "fit_seconds": round(time.monotonic() - t0, 1),
        "training_images": len(card.training_data),
        "threshold": card.threshold,
        "calibration": {k: card.calibration[k] for k in ("n", "mean", "std", "source")},
        "metrics": card.metrics,
        "deviations": card.deviations,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"fitted {model.name} version {card.version} on {out['training_images']} normal images in {out['fit_seconds']} s")
    return 0


def cmd_train(args) -> int:
    """JSON lines on stdout: start / step / epoch / end events from the training loop, then
    {"event": "done", "version": ...}. Errors are a {"event": "error"} line plus exit code 2.
    Under torchrun every rank trains (DistributedDataParallel); rank 0 alone prints and writes."""
    from core.io.atomic import atomic_write_json
    from core.models import store
    from core.models.base import new_version_id
    from core.models.retraining import CANCEL_FILE, planned_samples, training_data
    from core.runtime.device import configure_cpu_threads
    from core.training.context import FileCancelToken, JsonLinesWriter, TrainingContext
    from core.training.distributed import init_from_env, leave_process, shutdown
    from core.workspace import Workspace

    configure_cpu_threads()
    ws = Workspace.open(args.workspace)
    config = parse_config(args.config)
    info = init_from_env(str(config.get("device", "auto")))
    main_rank = info.rank == 0
    emit = JsonLinesWriter(sys.stdout) if main_rank else (lambda event: None)
    run_id = args.run or new_version_id()
    if info.enabled and not args.run:
        raise InputError(None, "under torchrun give every rank the same --run ID")
    from core.workspace.paths import confine, validate_id

    run_dir = confine(ws.root, "runs", validate_id("run", run_id))  # hostile ids never leave the workspace
    if args.resume and not (run_dir / "checkpoint.pt").exists() and not (run_dir / "run.json").exists():
        raise InputError(run_dir, "no such run to resume")
    if args.resume and (run_dir / "run.json").exists():
        saved = json.loads((run_dir / "run.json").read_text())
        config = {**saved.get("config", {}), **config}

    def record(status: str, **extra) -> None:
        if main_rank:
            atomic_write_json(
                run_dir / "run.json",
                {"run": run_id, "model": args.model, "config": config, "status": status, "world_size": info.world_size, **extra},
            )

    run_dir.mkdir(parents=True, exist_ok=True)
    cancel_file = run_dir / CANCEL_FILE
    if main_rank and cancel_file.exists():
        cancel_file.unlink()  # a stale request from the stopped run this one resumes
    started = time.monotonic()
    record("running", resumed=bool(args.resume))
    ctx = TrainingContext(run_dir=run_dir, resume=args.resume, emit=emit, rank=info.rank, world_size=info.world_size)
    emit({"event": "run", "run": run_id, "model": args.model, "run_dir": str(run_dir), "config": config, "world_size": info.world_size})
    last = [0.0]

    def progress(done, total, message):
        now = time.monotonic()
        if now - last[0] >= 0.5 or done >= total:
            last[0] = now
            emit({"event": "progress", "done": done, "total": total, "message": message})

    try:
        model = store.fit_on_workspace(
            ws,
            args.model,
            config,
            progress=progress,
            activate_new=not args.no_activate,
            user="train",
            context=ctx,
            version=run_id,
            register=main_rank,
            cancel=FileCancelToken(cancel_file),
        )
    except BaseException as exc:
        status = "cancelled" if exc.__class__.__name__ in ("CancelledError", "KeyboardInterrupt") else "failed"
        record(status, error=str(exc), resumed=bool(args.resume), seconds=round(time.monotonic() - started, 1))
        emit({"event": "error" if status == "failed" else "cancelled", "message": str(exc)})
        raise
    finally:
        shutdown()
    n_images = training_data(ws, args.model, model.modality).n_cases
    record(
        "done",
        version=model.card.version,
        resumed=bool(args.resume),
        seconds=round(time.monotonic() - started, 1),
        samples_seen=planned_samples(args.model, config, n_images),
    )
    emit(
        {
            "event": "done",
            "run": run_id,
            "version": model.card.version,
            "fit_seconds": model.card.fit_seconds,
            "metrics": model.card.metrics,
        }
    )
    if info.enabled:
        leave_process(0)  # everything is saved; see leave_process for why teardown is skipped
    return 0


def cmd_threshold(args) -> int:
    from core.models import store
    from core.workspace import Workspace

    ws = Workspace.open(args.workspace)
    version = args.version or store.active_version(ws, args.model)
    if version is None:
        raise StudioError(f"no fitted '{args.model}' model in {ws.root}")
    if args.value is not None:
        store.set_threshold(ws, args.model, args.value, version, user="cli")
    record = ws.versions.get(args.model, version)
    if record is None or record.card is None:
        raise StudioError(
            f"model {args.model} has no readable version '{version}' in {ws.root}" + (f": {record.problem}" if record else "")
        )
    card = record.card
    out = {
        "model": args.model,
        "version": version,
        "threshold": card.threshold,
        "pixel_threshold": card.pixel_threshold,
        "calibration": {k: card.calibration.get(k) for k in ("n", "mean", "std", "source")},
    }
    print(
        json.dumps(out, indent=2)
        if args.json
        else f"{args.model} {version}: threshold {card.threshold:.2f} (z-score vs {out['calibration']['n']} normals)"
    )
    return 0


def cmd_eval(args) -> int:
    from core.metrics.evaluate import evaluate
    from core.metrics.report import write_comparison, write_report
    from core.models import store
    from core.runtime.device import configure_cpu_threads
    from core.workspace import Workspace

    configure_cpu_threads()
    ws = Workspace.open(args.workspace)
    names = [n for item in args.model for n in item.split(",") if n]
    if args.version and len(names) > 1:
        raise InputError(None, "--version applies to one model; evaluate several models with their active versions")
    reports = []
    for name in names:
        version = args.version or store.active_version(ws, name)
        if version is None:
            raise StudioError(f"no fitted '{name}' model in {ws.root}: run 'anomaly-studio fit {name}' first")
        model = store.load_version(ws, name, version)
        todo = [
            c.id
            for c in ws.cases()
            if c.split == "test" and c.image(model.modality) is not None and store.load_result(ws, name, c.id, version) is None
        ]
        if todo:
            store.predict_cases(ws, model, todo, progress=_progress(args.json))
            if not args.json:
                sys.stderr.write("\n")
        report = evaluate(ws, name, version)
        if args.report:
            report = write_report(ws, report, args.report / name if len(names) > 1 else args.report)
        reports.append(report)
    if args.report and len(reports) > 1:
        write_comparison(reports, args.report)
    if args.json:
        slim = [{k: v for k, v in r.items() if k not in ("images", "curves")} for r in reports]
        print(json.dumps(slim[0] if len(slim) == 1 else slim, indent=2))
    else:
        for r in reports:
            print(
                f"{r['model']} {r['version']}: "
                + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in r["metrics"].items())
            )
        if args.report:
            print(f"report written to {args.report}")
    return 0


MODEL_COMMANDS = {
    "models": cmd_models,
    "fit": cmd_fit,
    "train": cmd_train,
    "predict": cmd_predict,
    "threshold": cmd_threshold,
    "eval": cmd_eval,
}
