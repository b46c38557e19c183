import pytest

from mmphase_bench.cli.main import main


@pytest.fixture
def usage_error(capsys):
    """Run ``main(argv)`` expecting argparse's usage error: exit 2 and one line on stderr, returned."""

    def run(argv):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        captured = capsys.readouterr()
        lines = captured.err.splitlines()
        assert len(lines) == 1, captured.err
        assert " error: " in lines[0] and "Traceback" not in captured.err and captured.out == ""
        return lines[0]

    return run
