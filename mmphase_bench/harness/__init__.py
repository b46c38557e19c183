"""The benchmark harness: submissions, suites, scales, training, the probe, results and the runner.

The names are imported lazily (PEP 562): ``import mmphase_bench.harness`` does not import torch.
"""

from mmphase_bench._lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
