import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import torch

from constrain.cli import EXIT_CUT, EXIT_OK, EXIT_USAGE, main
from tiny_lm import tiny_model, tiny_tokenizer

torch.set_num_threads(1)

DATE = r"\d{4}-\d{2}-\d{2}"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny-gpt2")
    tiny_model().save_pretrained(path)
    tiny_tokenizer().save_pretrained(path)
    return str(path)


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "pattern",
    [DATE, r"(red|green|blue)", r"\(\d{3}\) \d{3}-\d{4}", r"[a-z]{2,5}( [a-z]{2,5}){0,2}\."],
)
def test_regex_output(capsys, model_dir, pattern):
    code, out, err = cli(
        capsys, "generate", "--model", model_dir, "--regex", pattern, "--max-new-tokens", "60", "Give me an answer:"
    )
    assert code == EXIT_OK, err
    assert out.endswith("\n") and re.fullmatch(pattern, out[:-1])


def test_json_output_and_sampling_flags(capsys, model_dir):
    argv = [
        "generate",
        "--model",
        model_dir,
        "--threads",
        "1",
        "--regex",
        r"[a-z]{3,9}",
        "--temperature",
        "1.2",
        "--top-k",
        "20",
        "--top-p",
        "0.9",
        "--seed",
        "5",
        "--json",
        "x",
    ]
    code, out, _ = cli(capsys, *argv)
    record = json.loads(out)
    assert code == EXIT_OK and record["finish_reason"] == "eos" and re.fullmatch(r"[a-z]{3,9}", record["text"])
    assert record["num_tokens"] >= 1
    assert json.loads(cli(capsys, *argv)[1]) == record  # same seed, same output


def test_schema_file(capsys, model_dir, tmp_path):
    schema = {
        "type": "object",
        "properties": {
            "colour": {"enum": ["red", "green", "blue"]},
            "n": {"type": "integer", "minimum": 0, "maximum": 9},
        },
        "required": ["colour", "n"],
        "additionalProperties": False,
    }
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    finished = 0
    for seed in range(4):
        # Escaped keys and integers such as 7.000 are valid, so a random model need not stop.
        code, out, err = cli(
            capsys,
            "generate",
            "--model",
            model_dir,
            "--schema",
            str(path),
            "--json",
            "--max-new-tokens",
            "60",
            "--temperature",
            "1",
            "--seed",
            str(seed),
            "Describe a colour.",
        )
        record = json.loads(out)
        if code == EXIT_OK:
            finished += 1
            assert record["finish_reason"] == "eos"
            jsonschema.validate(record["value"], schema)
            assert json.loads(record["text"]) == record["value"]
        else:
            assert code == EXIT_CUT and record["finish_reason"] == "length" and record["value"] is None, err
    assert finished > 0


def test_grammar_file_and_name(capsys, model_dir, tmp_path):
    path = tmp_path / "parens.lark"
    path.write_text('start: "(" start ")" | "x"\n')
    code, out, err = cli(
        capsys, "generate", "--model", model_dir, "--grammar", str(path), "--max-new-tokens", "30", "x"
    )
    if code == EXIT_OK:
        text = out[:-1]
        assert re.fullmatch(r"\(*x\)*", text) and text.count("(") == text.count(")")
    else:
        assert code == EXIT_CUT and re.fullmatch(r"\(*(x\)*)?", out[:-1])
    code, out, err = cli(
        capsys, "generate", "--model", model_dir, "--grammar", "arithmetic", "--max-new-tokens", "5", "x"
    )
    assert code in (EXIT_OK, EXIT_CUT) and out and "error" not in err


def test_cut_output_exits_1(capsys, model_dir):
    code, out, err = cli(capsys, "generate", "--model", model_dir, "--regex", DATE, "--max-new-tokens", "2", "x")
    assert code == EXIT_CUT and "--max-new-tokens" in err
    assert re.fullmatch(r"\d[\d-]*", out[:-1])


def test_grammars_lists_names(capsys):
    code, out, _ = cli(capsys, "grammars")
    assert code == EXIT_OK and "json" in out.split()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--regex", "(unclosed"], "regex"),
        (["--regex", "a", "--max-new-tokens", "0"], "max_new_tokens"),
        (["--regex", "a", "--top-p", "2"], "top_p"),
        (["--schema", "no-such-file.json"], "no-such-file.json"),
        (["--grammar", "no_such_grammar"], "no_such_grammar"),
        (["--regex", "a", "--no-chat-template", "--system", "hi"], "system"),
        (["--regex", "a", "--threads", "0"], "--threads"),
    ],
)
def test_user_errors_exit_2_without_traceback(capsys, model_dir, argv, message):
    code, out, err = cli(capsys, "generate", "--model", model_dir, *argv, "prompt")
    assert code == EXIT_USAGE
    assert err.startswith("constrain: error:") and message in err and "Traceback" not in err
    assert out == ""


def test_bad_schema_json_and_missing_model(capsys, model_dir, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, _, err = cli(capsys, "generate", "--model", model_dir, "--schema", str(bad), "p")
    assert code == EXIT_USAGE and "not JSON" in err
    code, _, err = cli(capsys, "generate", "--model", str(tmp_path / "nothing"), "--regex", "a", "p")
    assert code == EXIT_USAGE and "no model" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--regex", "(unclosed"], "regex"),
        (["--schema", "{schema}"], "uniqueItems"),
        (["--grammar", "{grammar}"], "missing_rule"),
    ],
)
def test_constraint_errors_come_before_the_model_loads(capsys, tmp_path, monkeypatch, argv, message):
    # The model path does not exist and the model loader fails the test if it is reached:
    # the constraint's own error must come first.
    import constrain.generation

    def no_model(*args, **kwargs):
        raise AssertionError("generate() was called before the constraint was checked")

    monkeypatch.setattr(constrain.generation, "generate", no_model)
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "array", "uniqueItems": True}))
    grammar = tmp_path / "g.lark"
    grammar.write_text("start: missing_rule\n")
    argv = [a.format(schema=schema, grammar=grammar) for a in argv]
    code, out, err = cli(capsys, "generate", "--model", str(tmp_path / "no-model"), *argv, "prompt")
    assert code == EXIT_USAGE and out == ""
    assert err.startswith("constrain: error:") and message in err and "no model" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "prompt"],  # no constraint
        ["generate", "--regex", "a", "--schema", "s.json", "prompt"],  # two constraints
        ["generate", "--regex", "a"],  # no prompt
        ["generate", "--regex", "a", "--max-new-tokens", "many", "prompt"],
        [],
    ],
)
def test_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == EXIT_USAGE


def test_python_dash_m(model_dir):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run(
        [sys.executable, "-m", "constrain", "generate", "--model", model_dir, "--regex", DATE, "When?"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(DATE, proc.stdout.strip())
    assert proc.stderr == ""


@pytest.mark.parametrize(
    "flags, lines",
    [
        (["--sampler", "asap", "--num-samples", "4"], 4),
        (["--sampler", "awrs"], 1),
        (["--sampler", "smc", "--num-particles", "3", "--proposal", "lcd"], 1),
    ],
)
def test_samplers(capsys, model_dir, flags, lines):
    code, out, err = cli(
        capsys,
        "generate",
        "--model",
        model_dir,
        "--regex",
        r"(red|green|blue)",
        "--seed",
        "1",
        "--json",
        "--max-new-tokens",
        "8",
        *flags,
        "x",
    )
    assert code == EXIT_OK, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == lines
    for record in records:
        assert record["text"] in ("red", "green", "blue") and record["logprob"] < 0
    if "smc" in flags:
        assert set(records[0]["posterior"]) <= {"red", "green", "blue"}


def test_num_samples_needs_asap(capsys, model_dir):
    code, _, err = cli(capsys, "generate", "--model", model_dir, "--regex", "a", "--num-samples", "3", "x")
    assert code == EXIT_USAGE and "--num-samples is for --sampler asap" in err


def test_choice_flag(capsys, model_dir):
    choices = ["a.b", "c|d", "(e)"]
    args = [arg for c in choices for arg in ("--choice", c)]
    code, out, err = cli(capsys, "generate", "--model", model_dir, *args, "--temperature", "1", "--seed", "1", "Pick:")
    assert code == EXIT_OK, err
    assert out.rstrip("\n") in choices


def test_template_flag(capsys, model_dir, tmp_path):
    schema = tmp_path / "point.json"
    schema.write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}},
                "required": ["x", "y"],
                "additionalProperties": False,
            }
        )
    )
    code, out, err = cli(
        capsys,
        "generate",
        "--model",
        model_dir,
        "--schema",
        str(schema),
        "--template",
        '{"x":<gap>,"y":<gap>}',
        "--max-gap-tokens",
        "4",
        "--json",
        "A point:",
    )
    assert code == EXIT_OK, err
    record = json.loads(out)
    assert record["finish_reason"] == "eos" and record["value"] == json.loads(record["text"])
    assert record["text"].startswith('{"x":') and set(record["value"]) == {"x", "y"}
    code, out, err = cli(
        capsys,
        "generate",
        "--model",
        model_dir,
        "--schema",
        str(schema),
        "--template",
        '{"x":<gap>,"y":<gap>}',
        "--sampler",
        "awrs",
        "A point:",
    )
    assert code == EXIT_USAGE and "sampler" in err


def test_think_flag(capsys, model_dir):
    code, out, err = cli(
        capsys,
        "generate",
        "--model",
        model_dir,
        "--regex",
        "(yes|no)",
        "--think",
        "--think-max-chars",
        "6",
        "--max-new-tokens",
        "30",
        "--json",
        "Answer:",
    )
    assert code in (EXIT_OK, EXIT_CUT), err
    record = json.loads(out)
    if record["finish_reason"] == "eos":
        assert re.fullmatch(r"<think>(.{0,6})</think>\n(yes|no)", record["text"], re.S)
        assert record["reasoning"] == record["text"][len("<think>") : record["text"].index("</think>")]
    code, out, err = cli(capsys, "generate", "--model", model_dir, "--regex", "a", "--think-max-chars", "6", "x")
    assert code == EXIT_USAGE


def test_num_return_sequences_stop_and_stream_flags(capsys, model_dir):
    code, out, err = cli(
        capsys,
        "generate",
        "--model",
        model_dir,
        "--regex",
        "[a-z]{2,6}",
        "--num-return-sequences",
        "3",
        "--temperature",
        "1",
        "--seed",
        "0",
        "--json",
        "Word:",
    )
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 3 and all(
        re.fullmatch("[a-z]{2,6}", r["text"]) for r in records if r["finish_reason"] == "eos"
    )
    code, plain, err = cli(
        capsys,
        "generate",
        "--model",
        model_dir,
        "--regex",
        "[a-z ]{1,30}",
        "--temperature",
        "1",
        "--seed",
        "3",
        "Words:",
    )
    code, streamed, err = cli(
        capsys,
        "generate",
        "--model",
        model_dir,
        "--regex",
        "[a-z ]{1,30}",
        "--temperature",
        "1",
        "--seed",
        "3",
        "--stream",
        "Words:",
    )
    assert streamed == plain
    text = plain.rstrip("\n")
    stop = text[len(text) // 2 : len(text) // 2 + 2]
    code, out, err = cli(
        capsys,
        "generate",
        "--model",
        model_dir,
        "--regex",
        "[a-z ]{1,30}",
        "--temperature",
        "1",
        "--seed",
        "3",
        "--stop",
        stop,
        "Words:",
    )
    assert code == EXIT_OK, err
    assert out.rstrip("\n") == text[: text.find(stop)]
    code, out, err = cli(capsys, "generate", "--model", model_dir, "--regex", "a", "--stream", "--json", "x")
    assert code == EXIT_USAGE


def test_threads_flag_leaves_torch_as_it_was(capsys, model_dir):
    torch.set_num_threads(1)
    code, out, err = cli(capsys, "generate", "--model", model_dir, "--regex", "(yes|no)", "--threads", "2", "x")
    assert code == EXIT_OK, err
    assert torch.get_num_threads() == 1


def test_warm_up_command(capsys):
    code, out, err = cli(capsys, "warm-up")
    assert code == EXIT_OK and re.fullmatch(r"constrain: kernels ready in \d+\.\d s\n", out), (out, err)
