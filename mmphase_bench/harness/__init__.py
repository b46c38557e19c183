"""The benchmark harness: submissions, suites, scales, training, the probe, results and the runner."""

from mmphase_bench.harness.submission import LoadedSubmission, Submission, TaskSpec, load_submission
from mmphase_bench.models.encoders import ViewSpec

__all__ = ["Submission", "TaskSpec", "ViewSpec", "LoadedSubmission", "load_submission"]
