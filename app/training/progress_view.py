"""Progress of a training run from its JSON-lines events: progress bar with stage / epoch / step
and ETA, a live loss curve (one line per loss term) and the log."""

from __future__ import annotations

import time

import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QProgressBar, QVBoxLayout, QWidget

from app import theme
from app.state.runs import format_seconds

PALETTE = ("#3d8bfd", "#f0ad4e", "#46c37b", "#e5534b", "#b48ead", "#56b6c2", "#d19a66", "#c678dd")


class TrainingProgress(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setFormat("")
        self.status = QLabel("Not started")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setBackground(theme.PANEL)
        self.plot.setMinimumHeight(180)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.legend = self.plot.addLegend(offset=(-10, 10))
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText("Trainer output")
        self.log.setMinimumHeight(90)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addWidget(self.plot, 3)
        layout.addWidget(self.log, 1)
        self.reset()

    def reset(self) -> None:
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.series: dict[str, tuple[list[float], list[float]]] = {}
        self.steps_seen = 0
        self.last_event: dict | None = None
        self.plot.clear()
        self.legend.clear()
        self.bar.setValue(0)
        self.bar.setFormat("")
        self.status.setText("Not started")
        self.status.setStyleSheet("")

    def add_log(self, text: str) -> None:
        self.log.appendPlainText(text)

    # -- events ------------------------------------------------------------------------------------
    def on_event(self, e: dict) -> None:
        kind = e.get("event")
        self.last_event = e
        stage = e.get("stage")
        prefix = f"{stage} · " if stage else ""
        if kind == "step":
            self.steps_seen += 1
            epochs, steps = max(1, int(e.get("epochs", 1))), max(1, int(e.get("steps", 1)))
            frac = (int(e.get("epoch", 1)) - 1 + int(e.get("step", 0)) / steps) / epochs
            self.bar.setValue(int(round(1000 * min(1.0, frac))))
            self.bar.setFormat(f"{prefix}{100 * frac:.0f} %")
            eta = format_seconds(float(e["eta_s"])) if e.get("eta_s") is not None else ""
            self.status.setText(
                f"{prefix}epoch {e.get('epoch')}/{epochs} · step {e.get('step')}/{steps} · "
                f"loss {float(e.get('loss', float('nan'))):.4g}" + (f" · ETA {eta}" if eta else "")
            )
            terms = dict(e.get("terms") or {})
            terms.setdefault("loss", e.get("loss"))
            for name, value in terms.items():
                if value is None:
                    continue
                self._add_point(f"{stage}: {name}" if stage else name, self.steps_seen, float(value))
        elif kind == "progress":
            total = max(1, int(e.get("total", 1)))
            self.status.setText(f"{e.get('message', '')} ({e.get('done')}/{total})")
        elif kind == "epoch":
            self.add_log(
                f"{prefix}epoch {e.get('epoch')}/{e.get('epochs')} done: "
                + ", ".join(f"{k} {float(v):.4g}" for k, v in (e.get("mean") or {}).items())
            )
        elif kind == "resumed":
            self.add_log(f"{prefix}resumed after epoch {e.get('epoch')} (step {e.get('step')})")
        elif kind == "run":
            self.add_log(
                f"run {e.get('run')} started at {time.strftime('%H:%M:%S')}: {e.get('model')} ({e.get('world_size', 1)} process(es))"
            )
        elif kind == "done":
            self.bar.setValue(1000)
            self.bar.setFormat("done")
            self.status.setText(f"Finished: version {e.get('version')}")
        elif kind in ("error", "cancelled"):
            self.add_log(f"{kind}: {e.get('message', '')}")

    def _add_point(self, key: str, x: float, y: float) -> None:
        xs, ys = self.series.setdefault(key, ([], []))
        xs.append(x)
        ys.append(y)
        curve = self.curves.get(key)
        if curve is None:
            colour = PALETTE[len(self.curves) % len(PALETTE)]
            width = 2 if key.endswith("loss") else 1
            curve = self.plot.plot([], [], pen=pg.mkPen(colour, width=width), name=key)
            self.curves[key] = curve
        curve.setData(xs, ys)

    def set_finished(self, status: str, message: str = "") -> None:
        texts = {
            "done": "Finished",
            "cancelled": "Cancelled: the run can resume from its last checkpoint",
            "killed": "Stopped (killed): the run can resume from its last checkpoint",
            "crashed": "The training process crashed; the workspace is unchanged. See the log.",
            "failed": "Training failed; see the log.",
        }
        text = texts.get(status, status)
        self.status.setText(text + (f" — {message}" if message else ""))
        colour = {"done": theme.OK, "cancelled": theme.WARN, "killed": theme.WARN}.get(status, theme.DANGER)
        self.status.setStyleSheet(f"color: {colour};")
        if status != "done":
            self.bar.setFormat(status)
