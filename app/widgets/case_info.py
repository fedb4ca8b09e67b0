"""Case information: kind, images and their provenance, review state."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from core.domain import CaseRecord


class CaseInfoPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.title = QLabel("No case")
        self.title.setObjectName("title")
        self.body = QLabel("")
        self.body.setWordWrap(True)
        self.body.setTextFormat(self.body.textFormat().RichText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.title)
        layout.addWidget(self.body)
        layout.addStretch(1)

    def show_case(self, case: CaseRecord | None) -> None:
        if case is None:
            self.title.setText("No case")
            self.body.setText("")
            return
        self.title.setText(case.id)
        rows = [
            ("Kind", case.kind.display_name),
            ("Status", case.status.value.replace("_", " ")),
            ("Decision", case.decision.value if case.decision else "-"),
            ("Reviewer", case.last_reviewer or "-"),
        ]
        if case.truth:
            rows.append(("Known truth", case.truth))
        if case.split:
            rows.append(("Split", case.split))
        parts = ["<table cellspacing='3'>"]
        parts += [f"<tr><td style='color:#9aa3ad'>{k}</td><td>{html.escape(str(v))}</td></tr>" for k, v in rows]
        parts.append("</table>")
        for im in case.images:
            m = im.meta
            shape = "x".join(str(s) for s in im.shape)
            flags = []
            if m.synthetic:
                flags.append("<span style='color:#f0ad4e'>synthetic</span>")
            if m.derived_from:
                flags.append("derived")
            parts.append(f"<p><b>{html.escape(im.name)}</b> ({im.modality.value}, {shape}, {im.dtype}) {' '.join(flags)}<br>")
            if m.laterality:
                parts.append(f"Eye: {'left (OS)' if m.laterality == 'L' else 'right (OD)'}<br>")
            if m.scan_line:
                (x0, y0), (x1, y1) = m.scan_line.start, m.scan_line.end
                parts.append(f"Scan line: ({x0:.0f}, {y0:.0f}) to ({x1:.0f}, {y1:.0f})<br>")
            if m.spacing:
                parts.append(f"Spacing: {' x '.join(f'{s:.3g}' for s in m.spacing)} mm<br>")
            if m.description:
                parts.append(f"<span style='color:#9aa3ad'>{html.escape(m.description)}</span><br>")
            if m.source:
                parts.append(f"<span style='color:#9aa3ad'>Source: {html.escape(m.source)}</span>")
            parts.append("</p>")
        if case.comment:
            parts.append(f"<p><b>Comment</b><br>{html.escape(case.comment)}</p>")
        self.body.setText("".join(parts))
