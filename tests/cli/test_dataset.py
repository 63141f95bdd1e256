"""``idscope dataset``: tables, JSON, CSV and witness PNGs."""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from idscope import label_sharpness
from idscope.cli.main import main
from idscope.data import load, select_classes


@pytest.fixture
def one_thread():
    # 45 tiny searches: intra-op threads only add contention on a busy 2-core machine
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_all_pairs_json_has_45_rows_matching_the_api(capsys, one_thread):
    assert main(["dataset", "sklearn:digits", "--all-pairs", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["rows"]
    assert len(rows) == 45 and out["n_samples"] == 1797
    ds = load("sklearn:digits")
    row = next(r for r in rows if r["task"] == "3 vs 8")
    ref = label_sharpness(select_classes(ds, (3, 8)))
    np.testing.assert_allclose(row["K_F"], ref.value, rtol=1e-12)
    i, j = row["witness_i"], row["witness_j"]
    assert {ds.y[i], ds.y[j]} == {3, 8}
    np.testing.assert_allclose(np.linalg.norm(ds.X[i] - ds.X[j]), row["witness_distance"],
                               rtol=1e-12)
    assert all(r["mle_pope"] < r["mle_k1"] for r in rows)


def test_classes_out_writes_csv_json_and_witness_png(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["dataset", "sklearn:digits", "--classes", "3,8", "--n", "100",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3 vs 8" in text and "K_F" in text
    with open(out / "dataset.csv") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["n"] == "100" and float(row["K_F"]) > 0
    summary = json.loads((out / "dataset.json").read_text())
    assert summary["rows"][0]["witness_png"] == "witness_3_8.png"
    with Image.open(out / "witness_3_8.png") as im:
        assert im.size[0] > im.size[1] >= 160


def test_image_folder_and_table_sources(tmp_path, rng, capsys):
    for c in ("a", "b"):
        (tmp_path / "img" / c).mkdir(parents=True)
        for i in range(25):
            Image.fromarray(rng.integers(0, 256, (5, 5), dtype=np.uint8)).save(
                tmp_path / "img" / c / f"{i}.png")
    assert main(["dataset", str(tmp_path / "img"), "--json", "--k", "5",
                 "--out", str(tmp_path / "o")]) == 0
    res = json.loads(capsys.readouterr().out)["rows"][0]
    assert "|" in res["witness_files"] and (tmp_path / "o" / res["witness_png"]).exists()
    import pandas as pd

    df = pd.DataFrame(rng.normal(size=(40, 3)), columns=list("xyz"))
    df["kind"] = np.where(df["x"] > 0, "pos", "neg")
    df.to_csv(tmp_path / "t.csv", index=False)
    assert main(["dataset", str(tmp_path / "t.csv"), "--label-column", "kind",
                 "--k", "5"]) == 0
    assert "pos" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["dataset", "sklearn:nope"], "unknown bundled dataset"),
    (["dataset", "sklearn:digits", "--classes", "3"], "expected two classes"),
])
def test_user_errors_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_missing_label_column_exits_2(tmp_path, capsys):
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n")
    assert main(["dataset", str(tmp_path / "t.csv"), "--label-column", "y"]) == 2
    assert "label column 'y' does not exist" in capsys.readouterr().err
    assert main(["dataset", str(tmp_path / "t.csv")]) == 2
    assert "no labels" in capsys.readouterr().err
