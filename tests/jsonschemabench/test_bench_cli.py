"""The jsonschemabench command on the fixture set: masks, resume, summary, compare, suite,
worker crashes and timeouts, and the messages for missing data or packages."""

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from jsonschemabench.cli import main
from jsonschemabench.dataset import DATA_ENV
from jsonschemabench.engines import Engine
from jsonschemabench.runner import read_results

DATA = Path(__file__).resolve().parents[1] / "data" / "jsonschemabench"
MASKBENCH = str(DATA / "maskbench")
SUITE = str(DATA / "suite")
TOKENIZER = str(DATA / "tokenizer")
THIS = str(Path(__file__).resolve())

TIMING_KEYS = {"compile_ns", "ttfm_ns", "mask_ns", "advance_ns", "wall_s"}


class FlakyEngine(Engine):
    """Allows every token; kills its process on one fixture schema and hangs on another."""

    name = "flaky"

    def compile(self, schema):
        text = json.dumps(schema)
        print(f"flaky engine compiles {len(text)} bytes", file=sys.stderr)
        os.write(2, b"native stderr line\n")
        if "Cursor request parameters" in text:  # Github_easy/o10091
            os.kill(os.getpid(), signal.SIGSEGV)
        if "printInEndpoint" in text:  # Github_easy/o10008
            time.sleep(120)
        if "ConfigMapEnvSource" in text:  # Kubernetes/kb_107_Normalized: past the memory limit
            return bytearray(64 * 1024**3)
        return None

    def new_matcher(self, compiled):
        return None

    def fill_mask(self, matcher, bitmask):
        bitmask[:] = -1

    def accept(self, matcher, token):
        return True

    def is_accepting(self, matcher):
        return True


def _stable(path):
    header, records = read_results(path)
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]


def _masks(tmp_path, name, *extra, engine="llguidance"):
    out = tmp_path / f"{name}.jsonl"
    code = main(
        [
            "masks",
            "--engine",
            engine,
            "--data",
            MASKBENCH,
            "--tokenizer",
            TOKENIZER,
            "--out",
            str(out),
            "--no-progress",
            *extra,
        ]
    )
    return code, out


@pytest.fixture(scope="module")
def llg_run(tmp_path_factory):
    pytest.importorskip("llguidance")
    code, out = _masks(tmp_path_factory.mktemp("llg"), "llg")
    assert code == 0
    return out


def test_masks_llguidance_results_and_summary(llg_run):
    header, records = read_results(llg_run)
    assert header["engine"] == "llguidance" and header["task"] == "masks"
    assert header["engine_info"]["vocab_size"] == 600
    assert len(records) == 12 and len({r["id"] for r in records}) == 12
    assert all(r["outcome"] == "pass" for r in records), [r for r in records if r["outcome"] != "pass"]
    assert sum(r["num_tokens"] for r in records) > 100
    md = llg_run.with_suffix(".md").read_text()
    assert "| mask µs p99.9" in md and "| pass " in md and "Kubernetes" in md


def test_masks_jsonl_is_deterministic(tmp_path, llg_run):
    code, again = _masks(tmp_path, "again")
    assert code == 0
    assert _stable(again) == _stable(llg_run)


def test_resume_skips_done_schemas_and_completes(tmp_path, llg_run):
    pytest.importorskip("llguidance")
    out = tmp_path / "partial.jsonl"
    lines = llg_run.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:5]) + lines[5][:40])  # header, 4 records, a torn line
    code, _ = _masks(tmp_path, "partial", "--resume")
    assert code == 0
    assert sorted(_stable(out), key=lambda r: r["id"]) == sorted(_stable(llg_run), key=lambda r: r["id"])
    assert len(out.read_text().splitlines()) == 13


def test_existing_output_needs_resume(tmp_path, llg_run, capsys):
    out = tmp_path / "x.jsonl"
    out.write_text(llg_run.read_text())
    code, _ = _masks(tmp_path, "x")
    assert code == 2 and "--resume" in capsys.readouterr().err


def test_resume_refuses_another_engine(tmp_path, llg_run, capsys):
    out = tmp_path / "y.jsonl"
    out.write_text(llg_run.read_text().splitlines(keepends=True)[0])
    code, _ = _masks(tmp_path, "y", "--resume", engine=f"{THIS}:FlakyEngine")
    assert code == 2 and "cannot resume" in capsys.readouterr().err


@pytest.fixture(scope="module")
def flaky_run(tmp_path_factory):
    if not sys.platform.startswith("linux"):
        pytest.skip("the memory limit is RLIMIT_AS, Linux only")
    code, out = _masks(
        tmp_path_factory.mktemp("flaky"),
        "flaky",
        "--splits",
        "Github_easy,Kubernetes",
        "--timeout",
        "3",
        engine=f"{THIS}:FlakyEngine",
    )
    assert code == 0
    return out


def test_crash_and_timeout_are_recorded_not_fatal(flaky_run):
    by_id = {r["id"]: r for r in read_results(flaky_run)[1]}
    assert len(by_id) == 8
    assert by_id["Github_easy/o10091"]["outcome"] == "crash"
    assert "SIGSEGV" in by_id["Github_easy/o10091"]["detail"]
    assert by_id["Github_easy/o10008"]["outcome"] == "timeout"
    assert by_id["Github_easy/o10008"]["wall_s"] >= 3
    memory = by_id["Kubernetes/kb_107_Normalized"]
    assert memory["outcome"] == "limit" and "MemoryError" in memory["detail"]
    # the others ran in fresh workers; everything is allowed, so invalid instances pass
    special = ("Github_easy/o10091", "Github_easy/o10008", "Kubernetes/kb_107_Normalized")
    assert {r["outcome"] for i, r in by_id.items() if i not in special} == {"invalid_accepted"}


def test_sample_is_stratified_and_recorded(tmp_path):
    code, out = _masks(tmp_path, "sample", "--sample", "3", "--seed", "1", engine=f"{THIS}:FlakyEngine")
    assert code == 0
    header, records = read_results(out)
    assert header["sample"] == 3 and header["seed"] == 1
    assert sorted(r["split"] for r in records) == ["Github_easy", "Glaiveai2K", "Kubernetes"]


def test_no_data_message(monkeypatch, capsys):
    monkeypatch.delenv(DATA_ENV, raising=False)
    code = main(["masks", "--engine", f"{THIS}:FlakyEngine", "--tokenizer", TOKENIZER])
    assert code == 2
    err = capsys.readouterr().err
    assert "No JSONSchemaBench data" in err and "git clone" in err


def test_missing_peer_package_says_how_to_install(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "outlines_core" else real(name, *a)
    )
    code = main(["masks", "--engine", "outlines-core", "--data", MASKBENCH])
    assert code == 2
    assert "pip install outlines-core" in capsys.readouterr().err


def test_unknown_engine(capsys):
    assert main(["masks", "--engine", "nope", "--data", MASKBENCH]) == 2
    assert "unknown engine" in capsys.readouterr().err


def test_compare_tables_and_plots(tmp_path, llg_run, flaky_run):
    out_dir = tmp_path / "cmp"
    assert main(["compare", str(llg_run), str(flaky_run), "--out", str(out_dir)]) == 0
    md = (out_dir / "compare.md").read_text()
    assert "| metric" in md and "llguidance" in md and "flaky" in md
    assert "8 schemas present in every run" in md
    assert "differing outcomes" in md and "invalid_accepted" in md
    for name in ("mask_time.png", "compile_time.png", "ttfm_time.png"):
        data = (out_dir / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_summary_command_rewrites_markdown(tmp_path, llg_run):
    target = tmp_path / "s.md"
    assert main(["summary", str(llg_run), "--out", str(target)]) == 0
    assert target.read_text() == llg_run.with_suffix(".md").read_text()


def test_suite_per_keyword(tmp_path):
    pytest.importorskip("llguidance")
    out = tmp_path / "suite.jsonl"
    code = main(
        [
            "suite",
            "--engine",
            "llguidance",
            "--data",
            SUITE,
            "--tokenizer",
            TOKENIZER,
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert code == 0
    header, records = read_results(out)
    assert header["task"] == "suite" and header["draft"] == "draft2020-12"
    assert len(records) == 8
    md = out.with_suffix(".md").read_text()
    for keyword in ("type", "enum", "required", "maxItems", "**total**"):
        assert f"| {keyword}" in md
    total = next(line for line in md.splitlines() if line.startswith("| **total**"))
    cells = [c.strip() for c in total.strip("|").split("|")]
    assert cells[1] == "8" and int(cells[3]) == sum(r["num_tests"] for r in records)


def test_engines_command(capsys):
    assert main(["engines"]) == 0
    assert "llguidance" in capsys.readouterr().out


def test_masks_constrain_on_fixtures(tmp_path):
    code, out = _masks(tmp_path, "constrain", engine="constrain")
    assert code == 0
    header, records = read_results(out)
    assert header["engine"] == "constrain" and len(records) == 12
    assert {r["outcome"] for r in records} == {"pass"}, [
        (r["id"], r["outcome"], r["detail"]) for r in records if r["outcome"] != "pass"
    ]


def test_first_mask_only_times_compiles_and_runs_no_instance(tmp_path):
    code, out = _masks(tmp_path, "first", "--first-mask-only", engine="constrain")
    assert code == 0
    header, records = read_results(out)
    assert header["options"] == {"first_mask_only": True} and len(records) == 12
    for r in records:
        assert r["outcome"] == "pass" and r["ttfm_ns"] >= r["compile_ns"] > 0
        assert r["num_tests"] == 0 and r["tests"] == [] and r["mask_ns"] == []
    assert "first masks only" in out.with_suffix(".md").read_text()
    # a resumed run must keep the mode
    code, _ = _masks(tmp_path, "first", "--resume", engine="constrain")
    assert code == 2


def test_worker_stderr_goes_to_the_log(flaky_run):
    log = flaky_run.with_suffix(".log").read_text()
    assert "flaky engine compiles" in log and "native stderr line" in log


def _live_in_group(pgid):
    """Processes of a process group that are not zombies (Linux /proc)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(stat.parent.name)
    return live


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_interrupted_run_leaves_no_false_records_and_resumes(tmp_path):
    """Ctrl-C (SIGINT to the process group) mid-schema: exit 130, no record for the schema that
    was running, no worker left behind; --resume then judges everything."""
    import subprocess

    out = tmp_path / "int.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "jsonschemabench",
        "masks",
        "--engine",
        f"{THIS}:FlakyEngine",
        "--data",
        MASKBENCH,
        "--splits",
        "Github_easy",
        "--tokenizer",
        TOKENIZER,
        "--out",
        str(out),
        "--timeout",
        "60",
        "--no-progress",
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    # SIGINT as a terminal delivers it, even where the suite itself runs with SIGINT ignored (a
    # background job of a non-interactive shell inherits SIG_IGN, and Python then never raises
    # KeyboardInterrupt).
    proc = subprocess.Popen(
        cmd,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Generous bounds: on a busy machine a worker takes tens of seconds to start.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (out.exists() and out.read_text().count("\n") >= 1):
        time.sleep(0.2)  # the header is written once the first worker is ready
    time.sleep(0.5)  # the worker is now asleep in Github_easy/o10008
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()  # closes the pipes: no unclosed file left for another test's GC
        raise
    assert proc.returncode == 130
    deadline = time.monotonic() + 15  # multiprocessing's resource tracker exits on its own
    while _live_in_group(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _live_in_group(proc.pid) == []  # no worker is left running
    header, records = read_results(out)
    assert header is not None and records == []
    code = main(
        [
            "masks",
            "--engine",
            f"{THIS}:FlakyEngine",
            "--data",
            MASKBENCH,
            "--splits",
            "Github_easy",
            "--tokenizer",
            TOKENIZER,
            "--out",
            str(out),
            "--timeout",
            "3",
            "--resume",
            "--no-progress",
        ]
    )
    assert code == 0
    assert len(read_results(out)[1]) == 4
