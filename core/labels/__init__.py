"""Label editing engine (Qt-free): documents with undo/redo, brush/eraser/fill rasterisation,
mask <-> polygon conversion, autosave scheduling, workspace classes, model-result conversion,
MRI label volumes edited through display planes, exports and imports."""

from core.labels.autosave import Autosaver, AutosaveScheduler
from core.labels.editor import LabelEditor
from core.labels.history import History
from core.labels.raster import Region, stroke_region
from core.labels.targets import LabelTarget, targets_for_case
from core.labels.volume import VolumeLabelEditor

__all__ = [
    "AutosaveScheduler",
    "Autosaver",
    "History",
    "LabelEditor",
    "LabelTarget",
    "Region",
    "VolumeLabelEditor",
    "stroke_region",
    "targets_for_case",
]
