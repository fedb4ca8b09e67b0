import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHECK = """
import importlib, pkgutil, sys
import core
for m in pkgutil.walk_packages(core.__path__, "core."):
    importlib.import_module(m.name)
bad = sorted(n for n in sys.modules if n.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph", "app"))
print(",".join(bad))
"""


def test_core_never_imports_qt_or_app():
    out = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"core pulled in: {out.stdout.strip()}"


def test_no_core_source_mentions_qt_imports():
    offenders = []
    for path in (REPO / "core").rglob("*.py"):
        for line in path.read_text().splitlines():
            s = line.strip()
            if s.startswith(("import ", "from ")) and s.split()[1].split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph", "app"):
                offenders.append(f"{path.relative_to(REPO)}: {s}")
    assert not offenders, offenders
