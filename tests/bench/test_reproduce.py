"""One-command reproductions: every row runs end to end on a generated stand-in in its dataset's
layout (numbers meaningless and labelled so); missing official weights stop a run with the file's
name; a folder in the wrong layout is refused."""

from __future__ import annotations

import json

import pytest

from bench import reproduce, standins


def _run(capsys, *args) -> tuple[int, str, str]:
    code = reproduce.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_names_rows_weights_and_the_papers_numbers(capsys):
    code, out, _ = _run(capsys, "--list")
    assert code == 0
    for method in ("patchcore", "resad", "resynthdetect", "mias_sam", "mmrad", "rasalore"):
        assert f"| {method} |" in out
    for needle in ("0.907", "0.722", "99.76", "0.7664", "75.05", "resnet50-11ad3fa6.pth", "ViT-B-32.pt", "sam_vit_b_01ec64.pth"):
        assert needle in out


def test_missing_official_weights_name_the_file(capsys, tmp_path):
    data = standins.idrid(tmp_path / "idrid")
    (tmp_path / "weights").mkdir()
    code, _, err = _run(capsys, "resad", "--data", str(data), "--weights", str(tmp_path / "weights"))
    assert code == 2 and "wide_resnet50_2-95faca4d.pth" in err and str(tmp_path / "weights") in err
    code, _, err = _run(capsys, "mmrad", "--data", str(data), "--weights", str(tmp_path / "weights"))
    assert code == 2 and "sam_vit_b_01ec64.pth" in err


def test_wrong_layout_and_ambiguous_rows_are_refused(capsys, tmp_path):
    data = standins.eyeq(tmp_path / "eyeq")
    code, _, err = _run(capsys, "resynthdetect", "--data", str(data), "--row", "idrid")
    assert code == 2 and "expected the idrid layout" in err
    code, _, err = _run(capsys, "resad", "--data", str(tmp_path / "missing"))
    assert code == 2 and "no such folder" in err
    assert reproduce.choose_row("resynthdetect", None, data).name == "eyeq"  # chosen by the folder's layout
    assert reproduce.choose_row("mias_sam", None, standins.bmad(tmp_path / "RESC")).name == "bmad-oct"
    with pytest.raises(reproduce.ReproduceError, match="--row"):
        reproduce.choose_row("rasalore", None, None)


def test_eyeq_view_keeps_good_images_only(tmp_path):
    data = standins.eyeq(tmp_path / "eyeq")
    view = reproduce.eyeq_good_view(data, tmp_path / "view")
    rows = (view / "Label_EyeQ_train.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 and all(r.split(",")[2] == "0" for r in rows[1:])
    assert sorted(p.name for p in (view / "images").iterdir()) == sorted(
        r.split(",")[1] for t in ("train", "test") for r in (view / f"Label_EyeQ_{t}.csv").read_text().splitlines()[1:]
    )


STANDIN_ROWS = [
    ("patchcore", "idrid"),
    ("resad", "idrid"),
    ("resynthdetect", "idrid"),
    ("resynthdetect", "eyeq"),
    ("mias_sam", "bmad-brain"),  # bmad-oct and bmad-liver differ only in the folder name and the modality it gives
    ("mmrad", "mmr"),
    ("mmrad", "idrid"),
    ("rasalore", "brats21"),
]


@pytest.mark.slow  # each fits and predicts a small stand-in (tens of seconds on the shared CPU)
@pytest.mark.parametrize(("method", "row"), STANDIN_ROWS)
def test_every_row_runs_end_to_end_on_a_standin(capsys, method, row):
    code, out, err = _run(capsys, method, "--standin", "--row", row, "--json")
    assert code == 0, err
    assert "THESE NUMBERS MEAN NOTHING" in err
    result = json.loads(out)
    assert result["standin"] is True and result["faithful"] is False and result["not_faithful_keys"]
    assert result["imported"] > 0 and result["evaluated_images"] > 0 and result["trained_on"] > 0
    spec = reproduce.choose_row(method, row, None)
    assert [f["paper"] for f in result["figures"]] == [f.paper for f in spec.figures]
    computed = [f for f, s in zip(result["figures"], spec.figures) if s.ours]
    assert computed and all(f["ours"] is not None for f in computed), result["figures"]
    if row == "eyeq":
        assert result["imported"] == 6  # quality 'usable' and 'reject' images left out, as the paper
