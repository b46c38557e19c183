"""The command line as a whole: the error boundary, help texts, and what ``--help`` imports."""

import argparse
import json
import subprocess
import sys

import pytest

from mmphase_bench.cli import arguments, run
from mmphase_bench.cli.main import EXIT_BAD_INPUT, CommandError, build_parser, main
from mmphase_bench.errors import FileFormatError, InputError, InputTypeError, MissingFileError

HEAVY = ("torch", "h5py", "sklearn", "scipy", "matplotlib", "datasets", "numpy")


# ----------------------------------------------------------------------------- the error boundary
@pytest.mark.parametrize("error", [
    InputError("n must be >= 1, got 0"), InputTypeError("seed must be an integer, got 'a'"),
    MissingFileError("source: file not found: x.npz"), FileFormatError("x.h5: truncated\nsecond line"),
    CommandError("--point: bad"),
])
def test_input_errors_are_one_line_and_exit_2(monkeypatch, capsys, error):
    def handler(args):
        raise error

    monkeypatch.setattr(run, "run_suites_list", handler)
    assert main(["suites", "list"]) == EXIT_BAD_INPUT == 2
    captured = capsys.readouterr()
    # One line per line of the message (a submission check reports one per problem), each prefixed.
    assert captured.err == "".join(f"mmphase: error: {line}\n" for line in str(error).splitlines()) and captured.out == ""


def test_command_error_is_an_input_error():
    assert issubclass(CommandError, InputError) and issubclass(CommandError, ValueError)


@pytest.mark.parametrize("error", [RuntimeError("a bug"), ValueError("a bug"), TypeError("a bug"),
                                   FileNotFoundError("a bug"), KeyError("a bug")])
def test_other_exceptions_are_bugs_and_propagate(monkeypatch, error):
    def handler(args):
        raise error

    monkeypatch.setattr(run, "run_suites_list", handler)
    with pytest.raises(type(error)) as info:
        main(["suites", "list"])
    assert info.value is error


def test_a_bug_exits_1_with_its_traceback():
    code = ("import mmphase_bench.cli.run as run\n"
            "run.run_suites_list = lambda args: int('not a number')\n"  # a plain ValueError: a bug
            "from mmphase_bench.cli.main import main\n"
            "raise SystemExit(main(['suites', 'list']))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "ValueError: invalid literal for int() with base 10: 'not a number'"
    assert "mmphase: error" not in result.stderr


# ----------------------------------------------------------------------------- help texts
def _parsers(parser, prog=""):
    """Every (sub)parser: (parser, its subcommand help or None)."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def _subcommand_help(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from ((choice.dest, choice.help) for choice in action._choices_actions)


def test_every_option_and_subcommand_has_a_help_text():
    missing = []
    for parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{parser.prog} {'/'.join(action.option_strings) or action.dest}")
        missing += [f"{parser.prog} {name}" for name, text in _subcommand_help(parser) if not text]
    assert not missing, missing


def test_help_names_choices_and_subcommands(capsys):
    parser = build_parser()
    help_of = {p.prog: p.format_help() for p in _parsers(parser)}
    presets = " ".join(help_of["mmphase phase demo"].split())
    assert "both,ca_only,cp_only,neither" in presets
    assert "reproduce" in " ".join(help_of["mmphase"].split()).split("leaderboard", 1)[1].split("\n")[0]
    assert all(name in help_of["mmphase leaderboard"] for name in ("check", "build", "reproduce"))
    render = help_of["mmphase data render"]
    for option in ("--jitter", "--noise-x", "--seed", "--source", "--device", "--batch-size"):
        assert option in render


# ----------------------------------------------------------------------------- startup: what is imported
PROBE = """
import json, sys
from mmphase_bench.cli.main import main
seen = {}
for argv in ARGVS:
    try:
        main(argv)
    except SystemExit:
        pass
    seen[" ".join(argv)] = sorted(name for name in HEAVY if name in sys.modules)
print(json.dumps(seen))
"""


def test_help_version_and_usage_errors_import_nothing_heavy():
    parser = build_parser()
    argvs = [["--help"], ["--version"], ["run", "--suite", "nope", "--model", "x"], ["data", "render"],
             ["phase", "demo", "--n", "zero"]]
    argvs += [[*p.prog.split()[1:], "--help"] for p in _parsers(parser) if p.prog != "mmphase"]
    code = f"ARGVS = {argvs!r}\nHEAVY = {HEAVY!r}\n" + PROBE
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(seen) == len(argvs) > 15
    assert {argv: names for argv, names in seen.items() if names} == {}


def _imported_by(statement):
    code = f"import sys\n{statement}\nprint(' '.join(sorted(name for name in {HEAVY!r} if name in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_importing_the_theory_imports_neither_torch_nor_h5py():
    assert not {"torch", "h5py"} & _imported_by("import mmphase_bench.theory")
    assert not {"torch", "h5py"} & _imported_by("from mmphase_bench.theory import CCA, estimate_phase, SpikedModel")
    assert _imported_by("import mmphase_bench") == set()


def test_the_lazy_exports_still_work():
    import mmphase_bench
    from mmphase_bench import StereoDSprites
    from mmphase_bench.data.stereo_dsprites import StereoDSprites as defined

    assert StereoDSprites is defined
    for name in mmphase_bench.__all__:
        assert getattr(mmphase_bench, name) is not None
    for module in ("mmphase_bench.data", "mmphase_bench.theory", "mmphase_bench.harness"):
        package = __import__(module, fromlist=["__all__"])
        assert all(getattr(package, name) is not None for name in package.__all__)
        assert set(package.__all__) <= set(dir(package))
    with pytest.raises(AttributeError):
        mmphase_bench.no_such_name
    import mmphase_bench.theory.phase_diagram  # the submodule of the same name does not shadow the function
    from mmphase_bench.theory import phase_diagram

    assert callable(phase_diagram) and mmphase_bench.phase_diagram is phase_diagram


# ----------------------------------------------------------------------------- argument types
def test_argument_types():
    assert arguments.integer(1)("3") == 3
    assert arguments.number(0)("0.5") == 0.5
    assert arguments.seed_list("0, 2") == (0, 2)
    assert arguments.choice_list(("a", "b"))("b,a") == ("b", "a")
    for parse, text in [(arguments.integer(1), "0"), (arguments.integer(0, 3), "4"), (arguments.number(), "inf"),
                        (arguments.number(0, 1, strict=True), "1"), (arguments.seed_list, "1,x"),
                        (arguments.figure_path, "a.gif"), (arguments.device_name(auto=False), "auto")]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
    assert arguments.device_name(auto=True)("auto") == "auto" and arguments.device_name(auto=False)("cuda:1") == "cuda:1"
