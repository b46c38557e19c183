"""``mmphase run``, ``mmphase models list`` and ``mmphase suites list``."""

import json
import textwrap

import pytest

from mmphase_bench.cli.main import EXIT_BAD_INPUT, build_parser, main
from mmphase_bench.cli.run import first_sentence
from mmphase_bench.harness.scales import SCALES
from mmphase_bench.harness.suites import SUITE_BUILDERS, suite_cell_names
from mmphase_bench.models.image_text import IMAGE_TEXT_MODELS
from mmphase_bench.models.registry import BUILTIN_MODELS, REGISTRY


def test_run_writes_results_and_prints_the_summary(tmp_path, capsys):
    out = tmp_path / "runs"
    code = main(["run", "--model", "unimodal,linear-cca", "--suite", "spiked", "--scale", "smoke",
                 "--seeds", "0,1", "--out", str(out), "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 0
    files = sorted(out.rglob("*.json"))
    assert len(files) == 16  # 2 models x 4 cells x 2 seeds
    assert sorted({f.parent.name for f in files}) == ["linear-cca", "unimodal"]
    assert all(json.loads(f.read_text())["status"] == "ok" for f in files)
    assert "spectral AUC (mean R^2 over log rank) of the frozen linear probe, mean +- sd over seeds" in printed
    header = next(line for line in printed.splitlines() if line.startswith("cell"))
    assert "unimodal" in header and "linear-cca" in header
    for cell in ("both", "ca_only", "cp_only", "neither"):
        row = next(line for line in printed.splitlines() if line.startswith(cell))
        assert row.count("+-") == 2 and row.count("(2)") == 2
    assert f"16 results in {out}/spiked/ (0 failed, 0 incomplete)" in printed
    assert "FAILED" not in printed and "INCOMPLETE" not in printed


def test_run_resumes(tmp_path, capsys):
    arguments = ["run", "--model", "unimodal", "--suite", "spiked", "--cells", "both,neither", "--scale", "smoke",
                 "--seeds", "0", "--out", str(tmp_path), "--device", "cpu"]
    assert main(arguments) == 0
    first = capsys.readouterr().out
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json")}
    assert len(stamps) == 2
    assert main(arguments) == 0
    assert capsys.readouterr().out == first
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.json")} == stamps  # nothing rewritten


def test_run_with_the_example_submission(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the example ships with the package: it runs from any folder
    code = main(["run", "--model", "mmphase_bench.examples.linear_autoencoder:LinearPredictor", "--suite", "spiked", "--cells", "both",
                 "--scale", "smoke", "--seeds", "0", "--out", str(tmp_path), "--device", "cpu"])
    assert code == 0
    assert "linear-predictor" in capsys.readouterr().out
    assert (tmp_path / "spiked" / "linear-predictor" / "both__seed0.json").is_file()


def test_run_defaults():
    args = build_parser().parse_args(["run", "--model", "vicreg", "--suite", "spiked"])
    assert (args.scale, args.seeds, str(args.out), args.device, args.cells) == ("small", (0, 1, 2), "runs", "auto", None)
    assert args.wall_clock_limit is None  # no limit unless asked for
    args = build_parser().parse_args(["run", "--model", "vicreg", "--suite", "spiked", "--wall-clock-limit", "90.5"])
    assert args.wall_clock_limit == 90.5
    args = build_parser().parse_args(["run", "--model", "vicreg, joint", "--suite", "spiked", "--seeds", "3,4", "--cells", "both"])
    assert (args.model, args.seeds, args.cells) == (("vicreg", "joint"), (3, 4), ("both",))


def test_models_list(capsys):
    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    entries = []  # a model's line and its indented continuation lines
    headers = [line for line in lines if line.startswith("# ")]
    for line in lines:
        if line.startswith(" "):
            entries[-1] += " " + line.strip()
        elif line and not line.startswith("# "):
            entries.append(line)
    assert len(headers) == 2 and "image-text" in headers[1]
    assert len(entries) == len(BUILTIN_MODELS) == len(REGISTRY) + len(IMAGE_TEXT_MODELS) == 17
    assert [entry.split()[:2] for entry in entries[:2]] == [["vicreg", "CA"], ["vicreg-bn", "CA"]]
    assert all(len(line) <= 120 for line in lines)
    for entry, (name, cls) in zip(entries, BUILTIN_MODELS.items()):
        words = entry.split()
        assert words[0] == name and words[1] == cls.family
        description = entry.split(None, 2)[2]
        assert description == first_sentence(cls.__doc__) and description.endswith(".")
        # the whole first sentence, not its first line: the docstring's first line is a prefix
        assert description.startswith(cls.__doc__.strip().splitlines()[0].strip())


def test_first_sentence():
    assert first_sentence("One line.\n\n    More.") == "One line."
    assert first_sentence("Spans\n    two lines (see ``mmphase_bench.CCA``). Then more.") == "Spans two lines (see ``mmphase_bench.CCA``)."
    assert first_sentence("No full stop") == "No full stop"


def test_suites_list(capsys):
    assert main(["suites", "list"]) == 0
    printed = capsys.readouterr().out
    for name in SUITE_BUILDERS:
        assert f"\n{name}: " in f"\n{printed}"
        for cell in suite_cell_names(name):
            assert cell in printed
    assert "coco: read from files (run with --data-root)" in printed
    assert set(SUITE_BUILDERS) == {"spiked", "stereo-dsprites", "stereo-shapes3d", "captioned-scenes", "coco", "stars"}
    assert "exact: Delta_CA 2.98, Delta_CP 4.52, both" in printed
    assert "placement estimated per scale" in printed
    scales = printed.split("\nscales:\n", 1)[1]
    for name, scale in SCALES.items():
        assert f"  {name:<6} train {scale.n_train}, val {scale.n_val}, test {scale.n_test}" in scales
    assert [line.split()[0] for line in scales.strip().splitlines()] == ["smoke", "small", "paper"]


@pytest.mark.parametrize("arguments, message", [
    (["--model", "unimodal", "--suite", "spiked", "--cells", "both,nope"], "cell: suite 'spiked' has no cell 'nope'"),
    (["--model", "unimodal,nope", "--suite", "spiked"], "model 'nope' is neither a built-in model"),
    (["--model", "missing/model.py:Model", "--suite", "spiked"], "submission file not found: missing/model.py"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, monkeypatch, arguments, message):
    monkeypatch.chdir(tmp_path)
    arguments = ["run", *arguments]
    if "--scale" not in arguments:
        arguments += ["--scale", "smoke"]
    code = main([*arguments, "--out", str(tmp_path / "runs")])
    captured = capsys.readouterr()
    assert code == EXIT_BAD_INPUT == 2
    assert captured.err.startswith("mmphase: error: ")
    assert captured.err.count("\n") == 1
    assert message in captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("arguments, message", [
    (["--model", "unimodal", "--suite", "nope"],
     "argument --suite: invalid choice: 'nope' (choose from 'spiked', 'stereo-dsprites', 'stereo-shapes3d', 'captioned-scenes', 'coco', 'stars')"),
    (["--model", "unimodal", "--suite", "spiked", "--scale", "huge"], "argument --scale: invalid choice: 'huge' (choose from 'smoke', 'small', 'paper')"),
    (["--model", "unimodal", "--suite", "spiked", "--seeds", "a,b"], "argument --seeds: expected comma-separated non-negative integers, got 'a,b'"),
    (["--model", "unimodal", "--suite", "spiked", "--seeds=0,-1"], "argument --seeds: expected comma-separated non-negative integers"),
    (["--model", "unimodal", "--suite", "spiked", "--seeds", ","], "argument --seeds: expected comma-separated non-negative integers"),
    (["--model", ",", "--suite", "spiked"], "argument --model: expected comma-separated names"),
    (["--model", "unimodal", "--suite", "spiked", "--device", "toaster"], "argument --device: expected auto, cpu, cuda[:N] or mps, got 'toaster'"),
    (["--model", "unimodal", "--suite", "spiked", "--wall-clock-limit", "soon"],
     "argument --wall-clock-limit: must be a number of seconds, got 'soon'"),
    (["--model", "unimodal", "--suite", "spiked", "--wall-clock-limit", "0"],
     "argument --wall-clock-limit: must be a positive number of seconds, got '0'"),
    (["--model", "unimodal", "--suite", "spiked", "--wall-clock-limit=-5"],
     "argument --wall-clock-limit: must be a positive number of seconds, got '-5'"),
    (["--model", "unimodal", "--suite", "spiked", "--wall-clock-limit", "inf"],
     "argument --wall-clock-limit: must be a positive number of seconds, got 'inf'"),
    (["--model", "unimodal", "--suite", "spiked", "--wall-clock-limit", "nan"],
     "argument --wall-clock-limit: must be a positive number of seconds, got 'nan'"),
])
def test_bad_flags_are_usage_errors_of_one_line(tmp_path, monkeypatch, usage_error, arguments, message):
    monkeypatch.chdir(tmp_path)
    line = usage_error(["run", *arguments, "--out", str(tmp_path / "runs")])
    assert line.startswith("mmphase run: error: ") and message in line and line.endswith("(see 'mmphase run --help')")
    assert not (tmp_path / "runs").exists()


def test_the_command_line_knows_the_library_names():
    from mmphase_bench.cli import arguments
    from mmphase_bench.theory.presets import PRESET_NAMES

    assert arguments.SUITE_NAMES == tuple(SUITE_BUILDERS)
    assert arguments.PRESET_NAMES == PRESET_NAMES


def test_missing_required_argument_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--suite", "spiked"])
    assert exit_info.value.code == 2
    assert "--model" in capsys.readouterr().err


def test_a_failing_submission_exits_1_and_prints_failed_lines(tmp_path, capsys):
    path = tmp_path / "explodes.py"
    path.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        from mmphase_bench.harness import Submission

        class Explodes(Submission):
            family = "CA"

            def __init__(self, x_spec, y_spec, task=None):
                super().__init__(x_spec, y_spec, task)
                self.layer = nn.Linear(x_spec.size, 2)
                self.calls = 0

            def loss(self, x, y):  # fine once (the pre-training check), then diverges: a per-cell failure
                self.calls += 1
                return self.layer(x).sum() * (float("nan") if self.calls > 1 else 1.0)

            def embed(self, x):
                return self.layer(x)
    """))
    out = tmp_path / "runs"
    code = main(["run", "--model", f"unimodal,{path}:Explodes", "--suite", "spiked", "--cells", "both,cp_only",
                 "--scale", "smoke", "--seeds", "0", "--out", str(out), "--device", "cpu"])
    printed = capsys.readouterr().out
    assert code == 1
    failed = [line for line in printed.splitlines() if line.startswith("FAILED")]
    assert failed == [
        "FAILED explodes / both / seed 0: TrainingDiverged: loss became nan at epoch 0, step 1",
        "FAILED explodes / cp_only / seed 0: TrainingDiverged: loss became nan at epoch 0, step 1",
    ]
    assert f"4 results in {out}/spiked/ (2 failed, 0 incomplete)" in printed
    assert "failed (1)" in printed
    statuses = {p.parent.name + "/" + p.stem: json.loads(p.read_text())["status"] for p in out.rglob("*.json")}
    assert statuses == {"unimodal/both__seed0": "ok", "unimodal/cp_only__seed0": "ok",
                        "explodes/both__seed0": "failed", "explodes/cp_only__seed0": "failed"}


def test_a_run_stopped_by_the_wall_clock_limit_exits_1_and_is_redone(tmp_path, capsys):
    out = tmp_path / "runs"
    arguments = ["run", "--model", "unimodal,vicreg", "--suite", "spiked", "--cells", "both", "--scale", "smoke",
                 "--seeds", "0", "--out", str(out), "--device", "cpu"]
    code = main([*arguments, "--wall-clock-limit", "1e-9"])  # fires after the first epoch
    printed = capsys.readouterr().out
    assert code == 1
    lines = [line for line in printed.splitlines() if line.startswith(("FAILED", "INCOMPLETE"))]
    assert lines == ["INCOMPLETE vicreg / both / seed 0: stopped by the wall-clock limit of 1e-09 s after 1 of 2 epochs"]
    assert f"2 results in {out}/spiked/ (0 failed, 1 incomplete)" in printed
    path = out / "spiked" / "vicreg" / "both__seed0.json"
    assert json.loads(path.read_text())["status"] == "incomplete"
    assert json.loads((out / "spiked" / "unimodal" / "both__seed0.json").read_text())["status"] == "ok"
    # without the limit the incomplete result is trained again; the complete one is reused
    stamp = (out / "spiked" / "unimodal" / "both__seed0.json").stat().st_mtime_ns
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    assert f"2 results in {out}/spiked/ (0 failed, 0 incomplete)" in printed and "INCOMPLETE" not in printed
    assert json.loads(path.read_text())["status"] == "ok"
    assert (out / "spiked" / "unimodal" / "both__seed0.json").stat().st_mtime_ns == stamp


def test_a_broken_submission_stops_before_training_with_one_line_per_problem(tmp_path, capsys):
    path = tmp_path / "broken.py"
    path.write_text(textwrap.dedent("""
        import torch
        from torch import nn

        class Broken(nn.Module):  # a plain module: no Submission base class
            family = "CA"

            def __init__(self, x_spec, y_spec, task=None):
                super().__init__()
                self.layer = nn.Linear(x_spec.size, 2)

            def loss(self, x, y):
                return self.layer(x).sum() * float("nan")

            def embed(self, x):
                return self.layer(x)[:, 0]
    """))
    out = tmp_path / "runs"
    code = main(["run", "--model", f"unimodal,{path}:Broken", "--suite", "spiked", "--scale", "smoke", "--seeds", "0",
                 "--out", str(out), "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.splitlines() == [
        "mmphase: error: submission 'broken' fails its check: loss() returned nan on a batch of 8 samples",
        "mmphase: error: submission 'broken' fails its check: embed() must return shape (batch, width) = (8, k), "
        "returned shape (8,)",
    ]
    assert not list(out.rglob("*.json"))  # nothing trained, not even the good model
