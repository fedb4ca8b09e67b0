"""An image panel's head (title, slice badge, subtitle) never draws one text over another, even in the
narrow cells of the three-plane MRI view with RASALoRE's slice badge shown (issue 23, item 5)."""

from __future__ import annotations

import pytest

from app.viewers.image_panel import ImagePanel


@pytest.mark.parametrize("width", [220, 320, 520])
def test_slice_badge_never_covers_the_plane_title(qtbot, width):
    panel = ImagePanel("Axial")
    qtbot.addWidget(panel)
    panel.set_title("Axial", "slice 91/182", "slice score 12.34 · P(lesion) 0.87")
    panel.resize(width, 240)
    panel.show()
    qtbot.waitExposed(panel)
    title, badge, sub = panel.title.geometry(), panel.badge.geometry(), panel.subtitle.geometry()
    assert panel.badge.isVisible()
    assert not title.intersects(badge), (title, badge)
    assert not badge.intersects(sub) or sub.width() == 0, (badge, sub)
    # the title keeps its whole text: the layout gives it at least the width it needs
    assert title.width() >= panel.title.fontMetrics().horizontalAdvance("Axial")
    # the badge is readable in full or says the rest in its tooltip
    needed = panel.badge.fontMetrics().horizontalAdvance(panel.badge.text())
    assert badge.width() >= needed or panel.badge.toolTip() == panel.badge.text()


def test_badge_hidden_without_a_slice_verdict(qtbot):
    panel = ImagePanel("Coronal")
    qtbot.addWidget(panel)
    panel.set_title("Coronal", "slice 3/10", "")
    panel.show()
    qtbot.waitExposed(panel)
    assert not panel.badge.isVisible()
