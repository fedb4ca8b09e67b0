"""Viewer items that are redrawn all day keep their memory bounded (found by bench/soak.py)."""

from __future__ import annotations

import numpy as np

from core.io.labelme import Shape


def test_sam_prompt_markers_do_not_grow_the_symbol_atlas(qtbot):
    """pyqtgraph keys a scatter plot's symbol atlas by the brush object: a new brush per redraw
    added a symbol to the atlas on every SAM click, all day long."""
    from app.editing.canvas import LabelCanvas
    from app.editing.sam_assist import SamAssist

    sam = SamAssist(runner=None, store_provider=lambda: None)  # no image: prompts are only drawn
    canvas = LabelCanvas(sam)
    qtbot.addWidget(canvas)
    canvas.set_image(np.zeros((64, 64), np.uint8), "test")
    canvas.show()
    for i in range(60):
        canvas.sam_point(5 + i % 50, 20, positive=bool(i % 3))
        if i % 5 == 4:
            canvas.sam_clear()
    canvas.grab()
    assert len(canvas.sam_points.fragmentAtlas) <= 4  # include / exclude markers


def test_point_shapes_redrawn_all_day_keep_the_atlas_small(qtbot):
    import pyqtgraph as pg

    from app.viewers.label_layer import LabelLayer

    widget = pg.GraphicsLayoutWidget()
    qtbot.addWidget(widget)
    layer = LabelLayer(widget.addViewBox())
    shapes = [Shape("a", [[3.0, 4.0]], shape_type="point"), Shape("b", [[10.0, 12.0]], shape_type="point")]
    for _ in range(40):
        layer.show_shapes(shapes, 32, 32, {"a": "#ff0000", "b": "#00ff00"})
    widget.grab()
    assert len(layer.points.fragmentAtlas) <= 2
