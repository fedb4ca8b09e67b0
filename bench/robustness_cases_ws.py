"""Inputs of ``bench/robustness.py`` that act on a workspace: LabelMe files for ``labels import``,
filesystem oddities, tampered or damaged catalogs, hostile ids, and full disks."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np

from bench.robustness_cases import Case, fresh_dir, import_case
from tests.helpers import hostile_files as H


def labelme_cases(root: Path, ws: Path) -> list[Case]:
    """``labels import`` of one hostile LabelMe file laid out as LBL/fundus.json (case LBL)."""
    line = [{"label": "x", "points": [[0, 0], [5, 5]], "shape_type": "line"}]
    docs = {
        "nul_path": {"imagePath": "a\x00b.png"},
        "abs_path": {"imagePath": "/etc/passwd"},
        "dotdot_path": {"imagePath": "../../../../etc/passwd"},
        "group_text": {"shapes": [dict(line[0], group_id="g")]},
        "group_float": {"shapes": [dict(line[0], group_id=1.5)]},
        "group_huge": {"shapes": [dict(line[0], group_id=2**80)]},
        "flags_list": {"flags": [1, 2]},
        "shape_flags_int": {"shapes": [dict(line[0], flags=5)]},
        "desc_obj": {"shapes": [dict(line[0], description={"a": 1})]},
        "points_text": {"shapes": [dict(line[0], points="abc")]},
        "points_huge": {"shapes": [dict(line[0], points=[[0, 0], [1e300, 5]])]},
        "points_short": {"shapes": [{"label": "x", "points": [[0, 0]], "shape_type": "polygon"}]},
        "type_bad": {"shapes": [dict(line[0], shape_type="hexagon")]},
        "label_empty": {"shapes": [dict(line[0], label="")]},
        "height_huge": {"imageHeight": 10**12},
        "height_neg": {"imageHeight": -5},
        "height_text": {"imageHeight": "tall"},
        "shapes_obj": {"shapes": {"a": 1}},
        "mask_bad": {"shapes": [{"label": "m", "points": [[0, 0], [3, 3]], "shape_type": "mask", "mask": "!!!"}]},
        "deep_extra": {"extra": json.loads(H.deep_json(300))},
        "top_list": None,
    }
    out = []
    for name, patch in docs.items():
        src = root / f"lm-{name}"
        (src / "LBL").mkdir(parents=True)
        path = src / "LBL" / "fundus.json"
        if patch is None:
            path.write_text("[1, 2]")
        else:
            doc = {"version": "5.5.0", "flags": {}, "shapes": line, "imagePath": "fundus.png", "imageData": None}
            doc.update({"imageHeight": 48, "imageWidth": 64})
            doc.update(patch)
            path.write_text(json.dumps(doc))
        if name.endswith("_path"):  # matched by the export layout, imagePath is replaced: may be accepted
            out.append(Case(f"labelme {name} (layout)", "LabelMe JSON", ["labels", "import", str(src), "-w", str(ws)], False))
            loose = src / "loose"
            loose.mkdir()
            shutil.move(path, loose / "fundus.json")  # not in the layout: matched by imagePath, which must not escape
            src = loose
        out.append(Case(f"labelme {name}", "LabelMe JSON", ["labels", "import", str(src), "-w", str(ws)], True, "fundus.json"))
    for name, content in (
        ("utf16", "{}".encode("utf-16")),
        ("deep", H.deep_json(100000).encode()),
        ("nan", b'{"shapes": [], "imagePath": NaN}'),
    ):
        src = root / f"lm-raw-{name}"
        (src / "LBL").mkdir(parents=True)
        (src / "LBL" / "fundus.json").write_bytes(content)
        out.append(Case(f"labelme {name}", "LabelMe JSON", ["labels", "import", str(src), "-w", str(ws)], True, "fundus.json"))
    mask_src = root / "lm-maskbomb" / "LBL"
    mask_src.mkdir(parents=True)
    import base64

    bomb = base64.b64encode(H.png_claiming(root / "maskbomb.png", 30000, 30000).read_bytes()).decode()
    H.labelme_doc(mask_src / "fundus.json", "fundus.png", [{"label": "m", "points": [[0, 0], [5, 5]], "shape_type": "mask", "mask": bomb}])
    out.append(Case("labelme mask bomb", "LabelMe JSON", ["labels", "import", str(mask_src.parent), "-w", str(ws)], True, "fundus.json"))
    return out


def filesystem_cases(root: Path, ws: Path, outside: Path) -> list[Case]:
    import socket

    out = []
    specs = {
        "symlink_file_out": lambda d: (d / "LEAK.png").symlink_to(outside / "secret.png"),
        "symlink_dir_out": lambda d: (d / "LEAKDIR").symlink_to(outside),
        "symlink_dev": lambda d: (d / "ZERO.png").symlink_to("/dev/zero"),
        "symlink_loop": lambda d: ((d / "LOOPA.png").symlink_to(d / "LOOPB.png"), (d / "LOOPB.png").symlink_to(d / "LOOPA.png")),
        "fifo": lambda d: os.mkfifo(d / "PIPE.png"),
        "folder_named_png": lambda d: (d / "FOLDER.png").mkdir(),
        "folder_named_nii": lambda d: (d / "VOL.nii.gz").mkdir(),
        "socket": lambda d: socket.socket(socket.AF_UNIX).bind(str(d / "SOCK.png")),
    }
    names = {"symlink_file_out": "LEAK.png", "symlink_dir_out": "LEAKDIR", "symlink_dev": "ZERO.png", "symlink_loop": "LOOP"}
    names |= {"fifo": "PIPE.png", "folder_named_png": "FOLDER.png", "folder_named_nii": "VOL.nii.gz", "socket": "SOCK.png"}
    for name, make in specs.items():
        d = fresh_dir(root, f"fs-{name}")
        make(d)
        out.append(import_case(d, ws, "filesystem oddity", names[name], names=names[name]))
    return out


def catalog_cases(root: Path, ws: Path, outside: Path) -> list[Case]:
    """Each on its own copy of the workspace: tampered catalog values, damaged catalog files."""
    out = []
    rel_secret = os.path.relpath(outside / "secret.txt", root / "cat-x")

    def copy(name: str) -> Path:
        dst = root / f"cat-{name}"
        shutil.copytree(ws, dst, ignore=shutil.ignore_patterns("*.lock", "*-wal", "*-shm"))
        return dst

    def poke(w: Path, sql: str, params=()) -> None:
        con = sqlite3.connect(w / "workspace.sqlite")
        with con:
            con.execute(sql, params)
        con.close()

    for name, path in (
        ("dotdot", "../" * 8 + "etc/passwd"),
        ("rel_secret", rel_secret),
        ("absolute", "/etc/passwd"),
        ("nul", "images/N0/\x00.png"),
    ):
        w = copy(f"path-{name}")
        poke(w, "UPDATE images SET path=? WHERE case_id='N0'", (path,))
        for fmt in ("labelme", "png"):
            argv = ["labels", "export", "-w", str(w), "--format", fmt, "--out", str(root / f"export-{name}-{fmt}")]
            out.append(
                Case(f"catalog path {name} export {fmt}", "catalog tampering", argv, False, "N0", mention="N0" if fmt == "labelme" else "")
            )
    w = copy("caseid")  # N0 (which has labels) renamed to a path in both tables
    con = sqlite3.connect(w / "workspace.sqlite")
    with con:
        con.execute("PRAGMA foreign_keys=OFF")
        con.execute("UPDATE cases SET id='../../../escape' WHERE id='N0'")
        con.execute("UPDATE images SET case_id='../../../escape' WHERE case_id='N0'")
    con.close()
    for fmt in ("png", "labelme"):
        argv = ["labels", "export", "-w", str(w), "-f", fmt, "-o", str(root / f"exp-id-{fmt}")]
        out.append(Case(f"catalog case id export {fmt}", "catalog tampering", argv, False, mention="invalid case id"))
    for name, damage in (("zero", b""), ("garbage", b"garbage" * 50), ("half", None)):
        src = root / "in" / "trunc-png-0"
        commands = {"info": (["info"], True, "workspace.sqlite", None), "import": (["import", str(src)], True, "workspace.sqlite", None)}
        commands["restore"] = (["restore"], False, "", 0)
        for command, (argv, must, names, rc) in commands.items():  # each on its own copy: the runs are concurrent
            w = copy(f"damaged-{name}-{command}")
            cat = w / "workspace.sqlite"
            cat.write_bytes(cat.read_bytes()[: cat.stat().st_size // 2] if damage is None else damage)
            out.append(Case(f"damaged catalog {name} {command}", "damaged catalog", [*argv, "-w", str(w)], must, names, expect_rc=rc))
    w = copy("replaced")
    H.valid_png(w / "images" / "N0" / "fundus.png", (96, 128), seed=77)
    out.append(
        Case(
            "replaced image export",
            "replaced image",
            ["labels", "export", "-w", str(w), "-f", "labelme", "-o", str(root / "exp-r")],
            False,
            "N0",
            mention="N0",
        )
    )
    w = copy("busy")
    valid = root / "busy-labels" / "N2"
    valid.mkdir(parents=True)
    H.labelme_doc(
        valid / "fundus.json",
        "fundus.png",
        [{"label": "x", "points": [[0, 0], [5, 5]], "shape_type": "line"}],
        imageHeight=96,
        imageWidth=128,
    )
    out.append(
        Case(
            "busy database",
            "contention",
            ["labels", "import", str(valid.parent), "-w", str(w)],
            True,
            "busy",
            {"ANOMALY_STUDIO_LOCK_WAIT_S": "2"},
            hold_db=str(w),
        )
    )
    return out


def hostile_ids(escape_root: Path) -> list[str]:
    return ["../..", "../../../../outside", f"{escape_root}/abs", "a/b", "..", ".hidden", "x" * 300, "v1\n", "-", "~root"]


def escape_targets(ws: Path, escape_root: Path) -> list[Path]:
    """Where the hostile ids would land if they were joined to the workspace's folders unchecked."""
    out = []
    for v in hostile_ids(escape_root):
        for prefix in (ws / "runs", ws / "models" / "patchcore", ws / "images", ws / "labels"):
            try:
                target = Path(os.path.normpath(prefix / v))
            except ValueError:
                continue
            if ws not in target.parents and target != ws:
                out.append(target)
    return out


def id_cases(ws: Path, escape_root: Path) -> list[Case]:
    out = []
    for v in hostile_ids(escape_root):
        out.append(Case(f"predict --version {v[:20]!r}", "hostile id", ["predict", "patchcore", "-w", str(ws), "--version", v, "--all"]))
        out.append(
            Case(f"threshold --version {v[:20]!r}", "hostile id", ["threshold", "patchcore", "-w", str(ws), "--version", v, "--set", "42"])
        )
        out.append(Case(f"predict --case {v[:20]!r}", "hostile id", ["predict", "patchcore", "-w", str(ws), "--case", v]))
        out.append(Case(f"train --run-id {v[:20]!r}", "hostile id", ["train", "patchcore", "-w", str(ws), "--run-id", v]))
    for v in ("../..", "a/b", "x" * 300):
        out.append(Case(f"eval --version {v[:20]!r}", "hostile id", ["eval", "patchcore", "-w", str(ws), "--version", v]))
    for i in range(3):
        out.append(
            Case(f"info into a closed pipe {i}", "closed pipe", ["info", "-w", str(ws), "--json"], False, expect_rc=141, closed_stdout=True)
        )
    return out


def full_disk_cases(root: Path, ws: Path) -> list[Case]:
    """Imports into a copy of the workspace on a private 3 MB tmpfs (needs ``unshare -rm``)."""
    if shutil.which("unshare") is None or not subprocess_ok(["unshare", "-rm", "true"]):
        return []  # no unprivileged mount namespaces here: the suite's simulated full disk still runs
    src = fresh_dir(root, "fulldisk-src")
    from PIL import Image

    Image.fromarray(np.random.default_rng(12).integers(0, 255, (1400, 1400, 3), dtype=np.uint8)).save(src / "BIG.png", compress_level=0)
    out = [Case("import onto a full disk", "full disk", ["import", str(src), "-w", "{ws}"], True, "disk", full_disk_mb=3)]
    lm = root / "fulldisk-labels" / "N2"
    lm.mkdir(parents=True)
    H.labelme_doc(
        lm / "fundus.json", "fundus.png", [{"label": "x", "points": [[0, 0], [5, 5]], "shape_type": "line"}], imageHeight=96, imageWidth=128
    )
    out.append(
        Case(
            "labels import onto a full disk", "full disk", ["labels", "import", str(lm.parent), "-w", "{ws}"], True, "disk", full_disk_mb=-1
        )
    )
    return out


def subprocess_ok(cmd: list[str]) -> bool:
    import subprocess

    try:
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
