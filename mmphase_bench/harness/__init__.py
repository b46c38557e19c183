"""The benchmark harness: submissions, suites, scales, training, the probe, results and the runner.

The names are imported lazily (PEP 562): ``import mmphase_bench.harness`` does not import torch.
"""

_SUBMISSION = "mmphase_bench.harness.submission"
#: public name -> the module that defines it
_EXPORTS = {
    "Submission": _SUBMISSION, "TaskSpec": _SUBMISSION, "LoadedSubmission": _SUBMISSION, "load_submission": _SUBMISSION,
    "ViewSpec": "mmphase_bench.models.encoders",
}

__all__ = ["Submission", "TaskSpec", "ViewSpec", "LoadedSubmission", "load_submission"]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])
