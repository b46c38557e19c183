"""The Ray launcher: on a local 2-CPU cluster, the same result files as the local launcher, resume
without a task, failures recorded, dead workers reported and nothing written for them, the
reproduction's trainings, Ctrl-C, and the one-line errors (these run without Ray)."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from mmphase_bench.cli.main import main
from mmphase_bench.errors import InputError
from mmphase_bench.harness.results import _plain, result_path
from mmphase_bench.harness.runner import RunConfig, run_benchmark

MODELS = ("linear-cca", "reconstruct")
CELLS = ("both", "cp_only")
#: provenance fields that depend on the clock or the machine, not on the run
MACHINE_FIELDS = ("wall_time_s", "finished_at", "peak_memory_mib", "host_cpus")


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def sweep(out, models=MODELS, cells=CELLS, seeds=(0,)):
    return RunConfig(models=tuple(models), suite="spiked", cells=tuple(cells), scale="smoke", seeds=tuple(seeds),
                     out=out, device="cpu")


def comparable(path):
    """A result file without what depends on the clock or the host."""
    result = json.loads(path.read_text())
    for key in MACHINE_FIELDS:
        result["provenance"].pop(key)
    result["training"].pop("seconds")
    return result


def test_a_ray_sweep_writes_the_local_launchers_results_and_resumes_without_a_task(cluster, tmp_path, monkeypatch):
    from mmphase_bench.distributed import ray_launcher
    from mmphase_bench.distributed.ray_launcher import RayOptions, run_benchmark_ray

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a Ray run uses the CPUs it reserves (1): CPU results are bit-identical per thread count
    try:
        local = run_benchmark(sweep(tmp_path / "local"))
    finally:
        torch.set_num_threads(threads)
    on_ray = run_benchmark_ray(sweep(tmp_path / "ray"), RayOptions(cpus_per_run=1))
    assert on_ray.submitted == 4 and on_ray.lost == [] and len(on_ray) == len(local) == 4
    assert [(r["submission"]["name"], r["cell"]["name"]) for r in on_ray] == \
           [(r["submission"]["name"], r["cell"]["name"]) for r in local]  # the local launcher's order
    for result in local:
        name, cell = result["submission"]["name"], result["cell"]["name"]
        here, there = (result_path(tmp_path / folder, "spiked", name, cell, 0) for folder in ("local", "ray"))
        assert json.loads(there.read_text())["status"] == "ok"
        assert comparable(here) == comparable(there), (name, cell)  # metrics, evidence, probes, training, ...

    submitted = []
    monkeypatch.setattr(ray_launcher, "map_ray", lambda function, jobs, *args, **kwargs: submitted.extend(jobs))
    again = run_benchmark_ray(sweep(tmp_path / "ray"), RayOptions())
    assert submitted == [] and again.submitted == 0
    assert again == [json.loads(json.dumps(_plain(result))) for result in on_ray]  # as they read back


FAILING = """
    import os

    import torch.nn.functional as F
    from torch import nn

    from mmphase_bench.harness import Submission

    DRIVER = {driver}  # the test's own process checks the classes; only the Ray workers train them


    class RaisesAfterOneStep(Submission):
        family = "CP"
        name = "raises-after-one-step"

        def __init__(self, x_spec, y_spec, task=None):
            super().__init__(x_spec, y_spec, task)
            self.encoder = nn.Linear(x_spec.size, task.embedding_dim)
            self.decoder = nn.Linear(task.embedding_dim, y_spec.size)
            self.steps = 0

        def loss(self, x, y):
            if os.getpid() != DRIVER and self.training:
                self.steps += 1
                if self.steps > 1:
                    raise RuntimeError("the loss raised after one step")
            return F.mse_loss(self.decoder(self.encoder(x.flatten(1))), y.flatten(1))

        def embed(self, x):
            return self.encoder(x.flatten(1))


    class Dies(RaisesAfterOneStep):
        name = "dies"

        def loss(self, x, y):
            if os.getpid() != DRIVER:
                os._exit(1)  # the worker process dies in the middle of training
            return super().loss(x, y)
"""


def test_a_failed_run_is_a_result_and_a_dead_worker_writes_nothing_and_runs_again(cluster, tmp_path):
    from mmphase_bench.distributed.ray_launcher import RayOptions, run_benchmark_ray

    path = tmp_path / "failing.py"
    path.write_text(textwrap.dedent(FAILING.format(driver=os.getpid())))
    config = sweep(tmp_path / "runs", models=("linear-cca", f"{path}:RaisesAfterOneStep", f"{path}:Dies"), cells=("both",))
    results = run_benchmark_ray(config, RayOptions())
    by_name = {result["submission"]["name"]: result for result in results}
    assert sorted(by_name) == ["linear-cca", "raises-after-one-step"]
    assert by_name["linear-cca"]["status"] == "ok"
    failed = json.loads(result_path(config.out, "spiked", "raises-after-one-step", "both", 0).read_text())
    assert failed["status"] == "failed" and "the loss raised after one step" in failed["error"]
    (lost,) = results.lost
    assert (lost.model, lost.cell, lost.seed) == ("dies", "both", 0)
    assert lost.reason.startswith("the worker died: WorkerCrashedError")
    assert not (config.out / "spiked" / "dies").exists() or not list((config.out / "spiked" / "dies").glob("*.json"))

    again = run_benchmark_ray(config, RayOptions())  # the lost run and the failed one run again, the rest is kept
    assert again.submitted == 2 and [run.model for run in again.lost] == ["dies"]


@pytest.mark.slow  # about 100 s on 2 cores: the embeddings experiment's trainings, locally and on Ray
def test_the_reproductions_trainings_run_on_ray_with_the_same_numbers(cluster, tmp_path):
    """``mmphase reproduce --launcher ray``: the embeddings experiment's trainings (outside the runner)
    are Ray tasks and give the local numbers; a harness run lost on the cluster stops the experiment."""
    from mmphase_bench.distributed.ray_launcher import LostRunsError, RayOptions
    from mmphase_bench.reproduction.experiment import Context, ReproduceConfig, plain
    from mmphase_bench.reproduction.experiments.embeddings import EXPERIMENT

    def numbers(out, ray=None):
        config = ReproduceConfig(out=out, scale="smoke", only=("embeddings",), seeds=(0,), device="cpu", ray=ray)
        return plain(EXPERIMENT.run(Context(config=config, experiment="embeddings")))

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = numbers(tmp_path / "local")
    finally:
        torch.set_num_threads(threads)
    assert numbers(tmp_path / "ray", RayOptions()) == local
    assert len(list((tmp_path / "ray" / "cache" / "embeddings").glob("*.npz"))) == 4

    path = tmp_path / "failing.py"
    path.write_text(textwrap.dedent(FAILING.format(driver=os.getpid())))
    config = ReproduceConfig(out=tmp_path / "harness", scale="smoke", only=("stereo",), seeds=(0,), ray=RayOptions())
    context = Context(config=config, experiment="stereo")
    (result,) = context.harness(["linear-cca"], "spiked", cells=["both"])
    assert result["status"] == "ok"
    with pytest.raises(LostRunsError, match="dies / both / seed 0: the worker died"):
        context.harness(["linear-cca", f"{path}:Dies"], "spiked", cells=["both"])


def test_an_interrupt_hands_over_what_finished_and_cancels_the_rest(cluster):
    from mmphase_bench.distributed.ray_launcher import RayOptions, map_ray

    handed, lost = [], []

    def on_value(job, value):
        handed.append(job)
        raise KeyboardInterrupt  # Ctrl-C while the slow task still runs

    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        map_ray(subprocess.call, ["fast", "slow"], lambda job: {"args": ["true"] if job == "fast" else ["sleep", "30"]},
                RayOptions(), on_value=on_value, on_lost=lambda job, reason: lost.append(job))
    assert handed == ["fast"] and lost == [] and time.perf_counter() - start < 25


# ------------------------------------------------------------------ one-line errors (no cluster needed)


def one_error_line(capsys, argv) -> str:
    """The command's one error line (exit 2: argparse's usage error, or the library's InputError)."""
    try:
        code = main(argv)
    except SystemExit as exit:
        code = exit.code
    assert code == 2
    captured = capsys.readouterr()
    (line,) = captured.err.splitlines()
    assert "Traceback" not in captured.err and captured.out == ""
    return line


RUN = ["run", "--model", "linear-cca", "--suite", "spiked", "--scale", "smoke", "--seeds", "0"]


def test_without_ray_the_launcher_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    line = one_error_line(capsys, [*RUN, "--out", str(tmp_path), "--launcher", "ray"])
    assert line == 'mmphase: error: --launcher ray needs Ray: pip install "mmphase-bench[distributed]"'
    for command in (["reproduce", "--out", str(tmp_path / "r"), "--scale", "smoke"], ["leaderboard", "reproduce"]):
        assert "--launcher ray needs Ray" in one_error_line(capsys, [*command, "--launcher", "ray"])
    from mmphase_bench.distributed.ray_launcher import RayOptions, run_benchmark_ray

    with pytest.raises(InputError, match=r"^launcher ray needs Ray"):
        run_benchmark_ray(sweep(tmp_path), RayOptions())
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("address", ["local:0", "local:x", "local:", "nowhere"])
def test_a_bad_address_is_one_line_naming_it(capsys, tmp_path, address):
    line = one_error_line(capsys, [*RUN, "--out", str(tmp_path), "--launcher", "ray", "--address", address])
    assert line.startswith("mmphase: error: --address: expected auto, local:N") and repr(address) in line
    from mmphase_bench.distributed.ray_launcher import RayOptions

    with pytest.raises(InputError, match=r"^address: "):
        RayOptions(address=address)


def test_other_misuse_is_one_line(capsys, tmp_path):
    from mmphase_bench.distributed.ray_launcher import RayOptions, run_benchmark_ray

    assert "--address goes with --launcher ray" in one_error_line(capsys, [*RUN, "--out", str(tmp_path), "--address", "auto"])
    assert "--cpus-per-run" in one_error_line(capsys, [*RUN, "--launcher", "ray", "--cpus-per-run", "0"])
    for name, value in (("cpus_per_run", 0), ("gpus_per_run", -1), ("cpus_per_run", float("nan"))):
        with pytest.raises(InputError, match=f"^{name} must be"):
            RayOptions(**{name: value})
    pytest.importorskip("ray")
    with pytest.raises(InputError, match=r"^device 'cuda' needs gpus_per_run > 0"):
        run_benchmark_ray(RunConfig(models=MODELS, suite="spiked", scale="smoke", out=tmp_path, device="cuda"), RayOptions())


def test_a_task_trains_on_the_gpu_it_reserves_or_the_cpu():
    from mmphase_bench.distributed.ray_launcher import RayOptions, worker_device

    assert worker_device("auto", RayOptions(gpus_per_run=0)) == "cpu"
    assert worker_device("cuda", RayOptions(gpus_per_run=1)) == "cuda"
    assert worker_device("cuda:0", RayOptions(gpus_per_run=0.5)) == "cuda:0"
    with pytest.raises(InputError, match="needs gpus_per_run > 0"):
        worker_device("cuda", RayOptions(gpus_per_run=0))
    with pytest.raises(InputError, match=r"^device 'cuda:1': a Ray task sees only the GPU it reserves"):
        worker_device("cuda:1", RayOptions(gpus_per_run=1))
