from app.editing.sam_assist import fit_words


def test_sam_fit_is_said_in_words_without_raw_numbers():
    for iou in (0.95, 0.7, 0.3):
        text = fit_words(iou)
        assert "IoU" not in text and not any(ch.isdigit() for ch in text)
    assert "confident" in fit_words(0.92) and "unsure" in fit_words(0.2)
