"""Two narrow work-arounds for highdicom 0.28.2 with 2-D ophthalmic photographs (checked here).

1. Ophthalmic Photography belongs to a multi-frame IOD without functional groups. highdicom then
   reads the source's pixel measures from ``SharedFunctionalGroupsSequence`` (which an OP image
   does not have) and fails with AttributeError. :func:`highdicom_sources` gives highdicom a copy
   of such a header with that sequence filled from the image's own Pixel Spacing; when the image
   has none (an uncalibrated photo) :func:`drop_placeholder_measures` removes the placeholder from
   the result again, so nothing invented reaches the PACS.
2. A Parametric Map over a source without a Frame of Reference (a photograph) declares a "Frame
   Label" dimension index but writes no Dimension Index Values in its frames, and highdicom's own
   consistency check then refuses the object. :class:`ParametricMapNoFrameOfReference` adds the
   missing values (index 1, label "Frame") before that check. Used only for such sources.

Both results are read back and checked by core.pacs.verify before anything is sent.
"""

from __future__ import annotations

import copy

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

# Ophthalmic Photography 8 Bit, 16 Bit, Wide Field (stereographic projection, 3D coordinates)
OPHTHALMIC_PHOTOGRAPHY = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.77.1.5.1",
        "1.2.840.10008.5.1.4.1.1.77.1.5.2",
        "1.2.840.10008.5.1.4.1.1.77.1.5.5",
        "1.2.840.10008.5.1.4.1.1.77.1.5.6",
    }
)


def needs_functional_groups(ds: Dataset) -> bool:
    """An ophthalmic photograph: a multi-frame IOD whose instances carry no functional groups."""
    return str(ds.get("SOPClassUID", "")) in OPHTHALMIC_PHOTOGRAPHY and "SharedFunctionalGroupsSequence" not in ds


def highdicom_sources(datasets: list[Dataset]) -> tuple[list[Dataset], bool]:
    """(source datasets to give highdicom, True when placeholder pixel measures were added)."""
    if len(datasets) != 1 or not needs_functional_groups(datasets[0]):
        return list(datasets), False
    src = copy.deepcopy(datasets[0])
    if "NumberOfFrames" not in src:
        src.NumberOfFrames = 1
    spacing = src.get("PixelSpacing")
    item = Dataset()
    item.PixelMeasuresSequence = hd.PixelMeasuresSequence(pixel_spacing=list(spacing or [1.0, 1.0]), slice_thickness=1.0)
    src.SharedFunctionalGroupsSequence = Sequence([item])
    return [src], spacing is None


def drop_placeholder_measures(ds: Dataset) -> None:
    """Remove the pixel measures highdicom copied from a placeholder (uncalibrated photo)."""
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and "PixelMeasuresSequence" in shared[0]:
        del shared[0].PixelMeasuresSequence


class ParametricMapNoFrameOfReference(hd.pm.ParametricMap):
    """highdicom's ParametricMap for a source without a Frame of Reference (see module notes)."""

    def _build_luts(self) -> None:
        for item in self.get("PerFrameFunctionalGroupsSequence", []):
            content = item.FrameContentSequence[0]
            if not content.get("DimensionIndexValues"):
                content.DimensionIndexValues = [1]
                content.FrameLabel = "Frame"
        super()._build_luts()
