"""Label commands of the command line: ``labels export`` and ``labels import``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.errors import InputError


def add_label_commands(sub) -> None:
    lab = sub.add_parser("labels", help="export or import pixel labels")
    lsub = lab.add_subparsers(dest="labels_command", required=True)
    e = lsub.add_parser("export", help="write labels as PNG index masks, NIfTI label volumes or LabelMe files")
    e.add_argument("--workspace", "-w", type=Path, required=True)
    e.add_argument("--format", "-f", choices=["png", "nifti", "labelme"], required=True)
    e.add_argument("--out", "-o", type=Path, required=True, help="output folder (created; legend.json describes the ids)")
    e.add_argument("--json", action="store_true")
    i = lsub.add_parser("import", help="attach a folder of LabelMe JSON files to the matching workspace images")
    i.add_argument("src", type=Path)
    i.add_argument("--workspace", "-w", type=Path, required=True)
    i.add_argument("--merge", action="store_true", help="add the shapes to existing labels instead of replacing them")
    i.add_argument("--json", action="store_true")


def cmd_labels(args) -> int:
    from core.labels.export import export_labels, import_labelme_folder
    from core.workspace import Workspace

    ws = Workspace.open(args.workspace)
    try:
        if args.labels_command == "export":
            report = export_labels(ws, args.format, args.out)
            verb = "Exported"
        else:
            if not args.src.is_dir():
                raise InputError(args.src, "folder does not exist")
            report = import_labelme_folder(ws, args.src, merge=args.merge, user="cli")
            verb = "Imported"
    finally:
        ws.close()
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        print(
            f"{verb} {len(report.written)} label file(s), skipped {len(report.skipped)}"
            + (f" -> {args.out.resolve()}" if args.labels_command == "export" else "")
        )
        for s in report.skipped:
            sys.stderr.write(f"  - {s.get('image') or s.get('path')}: {s['reason']}\n")
        for w in report.warnings:
            sys.stderr.write(f"  ! {w}\n")
    if args.labels_command == "import" and not report.written and report.skipped:
        return 2
    return 0


LABEL_COMMANDS = {"labels": cmd_labels}
