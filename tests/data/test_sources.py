"""dsl_deploy.data.sources: one parser for every command's data sources."""
from __future__ import annotations

from pathlib import Path

import pytest

from dsl_deploy.data.sources import parse_data_source
from dsl_deploy.errors import DataError, InputError


def test_prefixed_and_bare_sources_name_the_same_datasets(tmp_path: Path) -> None:
    coco = tmp_path / "keypoints.json"
    coco.write_text("{}")
    folder = tmp_path / "instants"
    folder.mkdir()
    assert parse_data_source("synthetic:5").count == 5
    for text, kind, path in ((f"coco:{coco}", "coco", coco), (str(coco), "coco", coco),
                             (f"deepsport:{folder}", "deepsport", folder), (str(folder), "deepsport", folder)):
        source = parse_data_source(text)
        assert (source.kind, source.path) == (kind, path), text


@pytest.mark.parametrize("text, error, message", [
    ("synthetic:0", InputError, "--data: 'synthetic:0': synthetic:N needs a positive number of scenes"),
    ("imagenet:x", InputError, "--data: 'imagenet:x' is not a data source"),
    ("coco:", InputError, "names no path"),
    ("nowhere/at/all", DataError, "--data 'nowhere/at/all': no such file or folder"),
    ("", DataError, "--data '': no such file or folder"),
])
def test_bad_sources_are_one_line_errors(text: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(")):
        parse_data_source(text)


def test_wrong_files_are_refused_by_kind(tmp_path: Path) -> None:
    (tmp_path / "frames.txt").write_text("")
    with pytest.raises(DataError, match="expected a COCO keypoints .json file"):
        parse_data_source(str(tmp_path / "frames.txt"))
    with pytest.raises(DataError, match="coco:PATH must name the COCO annotation JSON file"):
        parse_data_source(f"coco:{tmp_path}", "--val-data")
    with pytest.raises(DataError, match="--data2: deepsport data path .* does not exist"):
        parse_data_source(f"deepsport:{tmp_path / 'missing'}", "--data2")
