"""Extra styles of the labelling views (on top of app.theme): tool buttons, save-state banner."""

from app import theme

LABEL_STYLESHEET = f"""
QWidget#toolbar {{ background: {theme.PANEL}; border: 1px solid {theme.BORDER}; border-radius: 4px; }}
QWidget#toolbar QLabel {{ color: {theme.MUTED}; }}
QWidget#toolstrip {{ background: {theme.PANEL}; border: 1px solid {theme.BORDER}; border-radius: 4px; }}
QPushButton#tool {{ padding: 7px 6px; min-width: 78px; text-align: left; padding-left: 9px; }}
QLabel#toolkey {{ color: #7d8590; font-size: 7pt; background: transparent; }}
QPushButton#tool:checked QLabel#toolkey {{ color: #dbe7ff; }}
QPushButton#tool:checked {{ background: {theme.ACCENT}; color: white; border: 1px solid {theme.ACCENT}; }}
QPushButton#danger:enabled {{ color: #ffb3ae; }}
QPushButton:disabled, QToolButton:disabled {{ color: #5d646e; }}
QToolButton {{ background: #2f343c; border: 1px solid {theme.BORDER}; border-radius: 3px; padding: 4px 8px; }}
QToolButton::menu-indicator {{ image: none; }}
QFrame#sep {{ background: {theme.BORDER}; }}
QLabel#saveok {{ background: #1f3326; color: #9fe0b5; border: 1px solid #2c5a3b; border-radius: 3px; padding: 5px 8px; }}
QLabel#savepending {{ background: #3a321d; color: #f3d48b; border: 1px solid #6b5a2a; border-radius: 3px; padding: 5px 8px; }}
QLabel#saveerror {{ background: #4a1f1d; color: #ffd2cf; border: 1px solid {theme.DANGER}; border-radius: 3px;
                    padding: 5px 8px; font-weight: 600; }}
QTreeWidget, QListWidget {{ background: {theme.PANEL}; border: 1px solid {theme.BORDER}; }}
QTreeWidget::item, QListWidget::item {{ padding: 2px 0; }}
QTreeWidget::item:selected, QListWidget::item:selected {{ background: {theme.ACCENT}; color: white; }}
QScrollArea {{ background: transparent; }}
"""
