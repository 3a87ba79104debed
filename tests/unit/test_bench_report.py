"""bench.results writes what a run measured; bench.report regenerates only the marked blocks of the benchmarks doc."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench import report
from bench.__main__ import stale_results
from bench.results import RESULTS_DIR_ENV, Table, record

PROSE_TOP = (
    "# Benchmarks\n\nHand-written intro, with `<!-- bench:inline -->` in backticks.\n\n"
    "## Rendering\n\nWhy it is fast.\n"
)
PROSE_BOTTOM = "\n| old | table |\n| --- | --- |\n| kept | as is |\n\n## Load\n\nNo results yet.\n"
DOC = (
    PROSE_TOP
    + "\n<!-- bench:render -->\nan earlier generated block\n<!-- /bench:render -->\n"
    + PROSE_BOTTOM
    + "<!-- bench:load -->\nleft alone: no results file\n<!-- /bench:load -->\n"
)


@pytest.fixture
def results_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "results"
    monkeypatch.setenv(RESULTS_DIR_ENV, str(folder))
    return folder


def record_render() -> Path:
    return record(
        "render",
        command=[".venv/bin/python", "-m", "bench.bench_render", "--images", "1000"],
        title="Rendering",
        tables=[
            Table(
                caption="ms per image",
                columns=["renderer", "CPU p50", "PNG bytes", "goal met"],
                rows=[["ours", 0.8451, 26528, True], ["captcha", 5.913, 9812, None]],
            )
        ],
        notes=["speed-up 7.0x"],
    )


def write_doc(tmp_path: Path, text: str = DOC) -> Path:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text(text, encoding="utf-8")
    return doc


def run_report(doc: Path, folder: Path, *flags: str) -> int:
    return report.main(["--doc", str(doc), "--results", str(folder), *flags])


def test_record_writes_the_command_machine_date_and_tables_it_was_given(results_folder: Path) -> None:
    # Given a bench's figures; When it records them
    before = datetime.now(UTC).replace(microsecond=0)
    path = record_render()

    # Then the file is <results dir>/<name>.json, with the reproducible command and the machine
    assert path == results_folder / "render.json"
    result = json.loads(path.read_text(encoding="utf-8"))
    assert result["command"] == ".venv/bin/python -m bench.bench_render --images 1000"
    assert result["argv"] == [".venv/bin/python", "-m", "bench.bench_render", "--images", "1000"]
    assert before <= datetime.fromisoformat(result["date"]) <= datetime.now(UTC)
    assert result["machine"]["cpus"] >= 1
    assert result["machine"]["python"].count(".") == 2
    assert {"arch", "cpu", "load_start", "load_end"} <= set(result["machine"])
    assert result["tables"][0]["rows"][1] == ["captcha", 5.913, 9812, None]
    assert result["notes"] == ["speed-up 7.0x"]


def test_record_refuses_a_row_with_the_wrong_number_of_cells(results_folder: Path) -> None:
    # Given a table whose second row lacks a cell; When it is recorded; Then nothing is written
    table = Table(caption="t", columns=["a", "b"], rows=[[1, 2], [3]])
    with pytest.raises(ValueError, match="2 cells"):
        record("broken", command="true", title="t", tables=[table])
    assert not (results_folder / "broken.json").exists()


def test_the_report_replaces_only_the_marked_block_and_keeps_the_prose(tmp_path: Path, results_folder: Path) -> None:
    # Given a results file for render, and a doc with a render block and a load block without results
    record_render()
    doc = write_doc(tmp_path)

    # When the report runs
    assert run_report(doc, results_folder) == 0

    # Then the render block is regenerated, and the prose and the load block are as they were
    text = doc.read_text(encoding="utf-8")
    assert text.startswith(PROSE_TOP + "\n<!-- bench:render -->\n")
    assert "an earlier generated block" not in text
    assert PROSE_BOTTOM + "<!-- bench:load -->\nleft alone: no results file\n<!-- /bench:load -->\n" in text
    block = text.split("<!-- bench:render -->\n")[1].split("<!-- /bench:render -->")[0]
    assert "Measured on " in block
    assert "CPUs" in block
    assert "```sh\n.venv/bin/python -m bench.bench_render --images 1000\n```" in block
    assert "| renderer | CPU p50 | PNG bytes | goal met |\n| --- | ---: | ---: | --- |" in block
    assert "| ours | 0.845 | 26,528 | yes |" in block
    assert "| captcha | 5.91 | 9,812 | – |" in block
    assert "- speed-up 7.0x" in block


def test_the_report_is_idempotent(tmp_path: Path, results_folder: Path) -> None:
    # Given a doc regenerated once
    record_render()
    doc = write_doc(tmp_path)
    run_report(doc, results_folder)
    once = doc.read_text(encoding="utf-8")

    # When it is regenerated again from the same results; Then nothing changes, and --check agrees
    assert run_report(doc, results_folder) == 0
    assert doc.read_text(encoding="utf-8") == once
    assert run_report(doc, results_folder, "--check") == 0


def test_check_reports_a_stale_doc_without_writing_it(tmp_path: Path, results_folder: Path) -> None:
    # Given results newer than the doc's block
    record_render()
    doc = write_doc(tmp_path)

    # When the report checks; Then it exits 1 and the doc is untouched
    assert run_report(doc, results_folder, "--check") == 1
    assert doc.read_text(encoding="utf-8") == DOC


def test_results_without_markers_in_the_doc_are_a_clear_error(
    tmp_path: Path, results_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given results for a bench the doc has no markers for
    record("consumer", command="python -m bench.bench_consumer", title="c", tables=[])
    doc = write_doc(tmp_path)

    # When the report runs; Then it exits 2, names the missing markers, and writes nothing
    assert run_report(doc, results_folder) == 2
    assert "<!-- bench:consumer --> … <!-- /bench:consumer -->" in capsys.readouterr().err
    assert doc.read_text(encoding="utf-8") == DOC


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- bench:render -->\nno end\n", "never closed"),
        ("<!-- /bench:render -->\n", "closes nothing"),
        ("<!-- bench:a -->\n<!-- bench:b -->\n<!-- /bench:b -->\n<!-- /bench:a -->\n", "opens inside"),
    ],
)
def test_unpaired_markers_are_an_error(text: str, message: str) -> None:
    # Given markers that do not pair up; When the doc is updated; Then the error says what is wrong
    with pytest.raises(report.ReportError, match=message):
        report.update_doc(text, {})


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (1302, "1,302"),
        (0.8451, "0.845"),
        (0.51, "0.510"),
        (5.913, "5.91"),
        (14.94, "14.9"),
        (1104.4, "1,104"),
        (None, "–"),
        ("a|b", "a\\|b"),
    ],
)
def test_cells_are_formatted_readably(value: int | float | str | None, shown: str) -> None:
    assert report.format_cell(value) == shown


def test_results_older_than_the_run_are_stale(results_folder: Path) -> None:
    # Given one results file from before the run and one from it
    record_render()
    old = json.loads((results_folder / "render.json").read_text(encoding="utf-8"))
    old["date"] = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0).isoformat()
    (results_folder / "load.json").write_text(json.dumps(old), encoding="utf-8")

    # When staleness is judged against the run's start; Then only the older one is stale
    stale = stale_results(results_folder, datetime.now(UTC) - timedelta(minutes=1))
    assert list(stale) == ["load"]
