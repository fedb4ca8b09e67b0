"""Dark theme for a reading room: low-glare greys, one accent colour, legible type."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

BG = "#1b1d21"
PANEL = "#23262b"
VIEW_BG = "#000000"
TEXT = "#e3e6ea"
MUTED = "#9aa3ad"
ACCENT = "#3d8bfd"
BORDER = "#343840"
WARN = "#f0ad4e"
DANGER = "#e5534b"
OK = "#46c37b"

STYLESHEET = f"""
QWidget {{ background: {BG}; color: {TEXT}; font-size: 10pt; }}
QMainWindow::separator {{ background: {BORDER}; width: 2px; height: 2px; }}
QFrame#panel, QWidget#panel {{ background: {PANEL}; border: 1px solid {BORDER}; border-radius: 4px; }}
QLabel#title {{ font-size: 11pt; font-weight: 600; color: {TEXT}; background: transparent; }}
QLabel#muted {{ color: {MUTED}; background: transparent; }}
QLabel#badge {{ background: {WARN}; color: #111; border-radius: 3px; padding: 1px 6px; font-weight: 600; }}
QLabel {{ background: transparent; }}
QTableView {{ background: {PANEL}; alternate-background-color: #272a30; gridline-color: {BORDER};
             selection-background-color: {ACCENT}; selection-color: white; border: 1px solid {BORDER}; }}
QTableView#worklist {{ font-size: 9pt; }}
QTableView#worklist QHeaderView::section {{ font-size: 9pt; padding: 3px 4px; }}
QHeaderView::section {{ background: #2b2f36; color: {MUTED}; border: none; border-right: 1px solid {BORDER};
                       padding: 4px 6px; font-weight: 600; }}
QLineEdit, QComboBox, QSpinBox, QDoubleSpinBox, QPlainTextEdit, QTextEdit {{
    background: #15171a; border: 1px solid {BORDER}; border-radius: 3px; padding: 3px 6px; color: {TEXT}; }}
QPushButton {{ background: #2f343c; border: 1px solid {BORDER}; border-radius: 3px; padding: 4px 12px; }}
QPushButton:hover {{ background: #3a404a; }}
QPushButton:checked {{ background: {ACCENT}; color: white; }}
QPushButton#primary {{ background: {ACCENT}; color: white; border: none; }}
QPushButton#primary:disabled {{ background: #2a3f5e; color: #8b96a3; }}
QPushButton#danger:checked {{ background: {DANGER}; color: white; }}
QPushButton:disabled {{ color: #6b737d; }}
QPushButton:checked {{ font-weight: 600; }}
QWidget#toolbar {{ background: {PANEL}; border: 1px solid {BORDER}; border-radius: 4px; }}
QWidget#toolbar QLabel, QWidget#toolbar QCheckBox {{ background: transparent; }}
QCheckBox {{ spacing: 5px; background: transparent; }}
QCheckBox::indicator {{ width: 14px; height: 14px; border: 1px solid #5a616b; border-radius: 3px; background: #15171a; }}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QCheckBox:disabled {{ color: #6b737d; }}
QProgressBar {{ background: #15171a; border: 1px solid {BORDER}; border-radius: 3px; text-align: center; color: {TEXT}; min-height: 16px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 2px; }}
QScrollArea {{ border: none; }}
QSlider::groove:horizontal {{ height: 4px; background: {BORDER}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {ACCENT}; width: 12px; margin: -5px 0; border-radius: 6px; }}
QStatusBar {{ background: #15171a; color: {MUTED}; }}
QToolTip {{ background: #2b2f36; color: {TEXT}; border: 1px solid {BORDER}; }}
QScrollBar:vertical {{ background: {PANEL}; width: 10px; }}
QScrollBar::handle:vertical {{ background: #444a53; border-radius: 4px; min-height: 24px; }}
QTabWidget::pane {{ border: 1px solid {BORDER}; }}
QTabBar::tab {{ background: {PANEL}; padding: 5px 12px; border: 1px solid {BORDER}; }}
QTabBar::tab:selected {{ background: #2f343c; color: white; }}
QGroupBox {{ background: {PANEL}; border: 1px solid {BORDER}; border-radius: 4px; margin-top: 16px; padding-top: 8px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {MUTED}; font-weight: 600;
                   text-transform: uppercase; }}
QGroupBox QLabel {{ background: transparent; }}
"""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    for role, colour in (
        (QPalette.Window, BG),
        (QPalette.WindowText, TEXT),
        (QPalette.Base, PANEL),
        (QPalette.AlternateBase, "#272a30"),
        (QPalette.Text, TEXT),
        (QPalette.Button, "#2f343c"),
        (QPalette.ButtonText, TEXT),
        (QPalette.Highlight, ACCENT),
        (QPalette.HighlightedText, "#ffffff"),
        (QPalette.ToolTipBase, "#2b2f36"),
        (QPalette.ToolTipText, TEXT),
        (QPalette.PlaceholderText, MUTED),
    ):
        pal.setColor(role, QColor(colour))
    app.setPalette(pal)
    font = QFont(app.font())
    font.setPointSizeF(10.0)
    app.setFont(font)
    app.setStyleSheet(STYLESHEET)
