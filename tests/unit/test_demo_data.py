"""Where `make demo` finds EMNIST, and how it downloads the official archive when it finds none."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from drcaptcha.errors import DataError
from drcaptcha_ops.demo import download_emnist, find_emnist


def emnist_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "emnist-bymerge-test-images-idx3-ubyte.gz").write_bytes(b"x")
    return path


def test_the_environment_variable_wins_over_the_default_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = emnist_folder(tmp_path / "chosen")
    default = emnist_folder(tmp_path / "default")
    monkeypatch.setenv("DRCAPTCHA_EMNIST", str(chosen))

    assert find_emnist((default,)) == chosen


def test_folders_without_emnist_images_are_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRCAPTCHA_EMNIST", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    second = emnist_folder(tmp_path / "second")

    assert find_emnist((empty, second)) == second
    assert find_emnist((empty, tmp_path / "missing")) is None


def test_the_archive_is_downloaded_and_only_the_needed_members_unpacked(tmp_path: Path) -> None:
    # Given an archive laid out like the official gzip.zip (members under gzip/), served from a URL
    archive = tmp_path / "gzip.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("gzip/emnist-bymerge-test-images-idx3-ubyte.gz", b"images")
        zipped.writestr("gzip/emnist-bymerge-test-labels-idx1-ubyte.gz", b"labels")
        zipped.writestr("gzip/emnist-letters-train-images-idx3-ubyte.gz", b"not needed")

    # When the demo downloads it
    target = download_emnist(tmp_path / "data" / "emnist", url=archive.as_uri())

    # Then the members the import reads are there, the others and the partial download are not
    assert sorted(path.name for path in target.iterdir()) == [
        "emnist-bymerge-test-images-idx3-ubyte.gz",
        "emnist-bymerge-test-labels-idx1-ubyte.gz",
    ]
    assert (target / "emnist-bymerge-test-images-idx3-ubyte.gz").read_bytes() == b"images"


def test_a_download_that_is_not_a_zip_is_a_clear_error(tmp_path: Path) -> None:
    page = tmp_path / "error.html"
    page.write_text("<html>rate limited</html>")

    with pytest.raises(DataError, match="not a zip"):
        download_emnist(tmp_path / "emnist", url=page.as_uri())
    assert not (tmp_path / "emnist" / "gzip.zip.part").exists()
