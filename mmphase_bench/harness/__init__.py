"""The benchmark harness: submissions, suites, scales, training, the probe, results and the runner.

The names are imported lazily (PEP 562): ``import mmphase_bench.harness`` does not import torch.
"""

_SUBMISSION = "mmphase_bench.harness.submission"
_INTERFACE = "mmphase_bench.models.interface"
#: public name -> the module that defines it
_EXPORTS = {
    "Submission": _INTERFACE, "SubmissionDefaults": _INTERFACE, "TaskSpec": _INTERFACE, "ViewSpec": _INTERFACE,
    "LoadedSubmission": _SUBMISSION, "SubmissionError": _SUBMISSION, "check_submission": _SUBMISSION,
    "load_submission": _SUBMISSION,
}

__all__ = [
    "Submission", "SubmissionDefaults", "TaskSpec", "ViewSpec", "LoadedSubmission", "SubmissionError",
    "check_submission", "load_submission",
]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])
