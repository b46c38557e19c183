"""DDP training of one run (``mmphase run --ddp`` under torchrun): sharding, gradient averaging,
agreement with the single-process run, the single-process loop left unchanged, and the one-line errors.

Two CPU processes (gloo) train a ``smoke`` cell of the ``spiked`` suite with ``reconstruct`` (an MSE,
a mean over examples). The DDP run and the single-process run see the same examples in the same
global batches and take the same Adam steps; only the floating-point summation order differs (each
rank's loss is a mean over 32 examples and DDP averages the two gradients, where one process takes
the mean over 64). Measured on this machine (8 steps): the losses differ by at most 6e-8 (1.9e-8 and
3.7e-8 relative: a float32 rounding or two), the probe's R^2 and spectral AUC by 3e-9 and 1e-9. The
parameters differ by 3e-10 to 6e-10 on average per tensor, but by up to 1.6e-6 at one of 65,536 decoder
weights: Adam's step m / (sqrt(v) + eps) is normalised, so where a weight's gradient is near zero a
rounding-level difference in it moves the step by up to a sizeable part of the learning rate (1e-3).
Tolerances: losses relative 1e-6 (about 8 float32 roundings), headline metrics 1e-6 absolute,
parameters 1e-8 on average per tensor and 1e-4 at any one weight: margins of 15 or more over the
measurements, and far below a real difference (another data-order seed moves the weights by 1.5e-2).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from mmphase_bench.cli.main import main
from mmphase_bench.distributed.ddp import LAUNCHER_OPTIONS, launch_torchrun, process_group, torchrun_command
from mmphase_bench.errors import InputError
from mmphase_bench.harness.runner import RunConfig, run_benchmark
from mmphase_bench.harness.scales import SCALES
from mmphase_bench.harness.submission import Submission
from mmphase_bench.harness.suites import get_suite
from mmphase_bench.harness.training import DataParallel, TrainingDiverged, train
from mmphase_bench.models import reference

SMOKE = SCALES["smoke"]
CPU = torch.device("cpu")
TOLERANCE = 1e-6  #: losses (relative) and headline metrics (absolute)
PARAMETER_MEAN_TOLERANCE, PARAMETER_MAX_TOLERANCE = 1e-8, 1e-4
ARGS = ["run", "--model", "reconstruct", "--suite", "spiked", "--cells", "both", "--scale", "smoke", "--seeds", "0"]


def _smoke_data():
    suite = get_suite("spiked")
    cell = suite.cell("both")
    return suite, {split: suite.make_split(cell, split, getattr(SMOKE, f"n_{split}"), 0) for split in ("train", "val")}


def _state_hash(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class RecordsBatches(Submission):
    """Records the first column of every training batch it sees (the rows' identities: continuous
    Gaussian values, all distinct) and minimises a mean over the batch."""

    family = "other"

    def __init__(self, x_spec, y_spec, task=None):
        super().__init__(x_spec, y_spec, task)
        self.w = nn.Parameter(torch.tensor(0.0))
        self.seen: list[torch.Tensor] = []

    def loss(self, x, y):
        if self.training:
            self.seen.append(x[:, 0].detach().clone())
        return ((self.w - x[:, 0]) ** 2).mean()

    def embed(self, x):
        return x * self.w


class HasUnusedParameter(RecordsBatches):
    """A loss that never uses one parameter: DDP must still train it (``static_graph``)."""

    def __init__(self, x_spec, y_spec, task=None):
        super().__init__(x_spec, y_spec, task)
        self.unused = nn.Parameter(torch.ones(3))


class DivergesOnRank1(RecordsBatches):
    """A loss that is NaN on rank 1 only (finite in one process): every rank must stop together."""

    def loss(self, x, y):
        return super().loss(x, y) * (float("nan") if os.environ.get("RANK") == "1" and self.training else 1.0)


def _train_all(data_parallel=None) -> dict:
    """The runs compared between one process and each DDP rank."""
    torch.set_num_threads(1)
    suite, data = _smoke_data()
    out = {}
    for name, cls in (("reconstruct", reference.Reconstruct), ("records", RecordsBatches), ("unused", HasUnusedParameter)):
        torch.manual_seed(0)
        model = cls(suite.x_spec, suite.y_spec, suite.task)
        log = train(model, data["train"], data["val"], SMOKE, seed=0, device=CPU, data_parallel=data_parallel)
        out[name] = {"state": {k: v.clone() for k, v in model.state_dict().items()}, "log": log.to_dict(),
                     "seen": getattr(model, "seen", None)}
    torch.manual_seed(0)
    try:
        train(DivergesOnRank1(suite.x_spec, suite.y_spec, suite.task), data["train"], data["val"], SMOKE, seed=0,
              device=CPU, data_parallel=data_parallel)
        out["diverged"] = None
    except TrainingDiverged as error:
        out["diverged"] = str(error)
    return out


def _worker(rank: int, world_size: int, port: int, folder: str) -> None:
    """One rank of a torchrun-like job (the variables torchrun sets), trained through the package's
    own process group."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    with process_group("cpu") as session:
        torch.save(_train_all(session.data_parallel), os.path.join(folder, f"rank{rank}.pt"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Each of 2 gloo ranks' trained runs, and the same runs in one process."""
    folder = tmp_path_factory.mktemp("ddp")
    threads = torch.get_num_threads()
    try:
        single = _train_all()
    finally:
        torch.set_num_threads(threads)
    mp.spawn(_worker, args=(2, _free_port(), str(folder)), nprocs=2, join=True)
    return single, [torch.load(folder / f"rank{rank}.pt", weights_only=True) for rank in range(2)]


def test_the_parameters_are_identical_on_every_rank(two_ranks):
    """Each rank trains on different examples, so identical weights mean the gradients were averaged."""
    _, ranks = two_ranks
    for name in ("reconstruct", "records", "unused"):
        first, second = (rank[name]["state"] for rank in ranks)
        assert first.keys() == second.keys()
        for key in first:
            assert torch.equal(first[key], second[key]), (name, key)
        assert ranks[0][name]["log"] == {**ranks[1][name]["log"], "seconds": ranks[0][name]["log"]["seconds"]}


def test_ddp_matches_the_single_process_run(two_ranks):
    single, ranks = two_ranks
    one, ddp = single["reconstruct"], ranks[0]["reconstruct"]
    assert ddp["log"]["data_parallel"] == {"world_size": 2, "backend": "gloo"} and "data_parallel" not in one["log"]
    for key in ("epochs", "steps", "best_epoch", "stopped"):
        assert ddp["log"][key] == one["log"][key]
    for key in ("train_loss", "val_loss"):
        assert ddp["log"][key] == pytest.approx(one["log"][key], rel=TOLERANCE, abs=0)
    for key, value in one["state"].items():
        difference = (ddp["state"][key] - value).abs()
        assert difference.mean() < PARAMETER_MEAN_TOLERANCE and difference.max() < PARAMETER_MAX_TOLERANCE, key


def test_the_shards_are_disjoint_and_make_up_the_global_batch(two_ranks):
    single, ranks = two_ranks
    batches = single["records"]["seen"]
    assert len(batches) == SMOKE.max_epochs * (SMOKE.n_train // SMOKE.batch_size)
    for step, batch in enumerate(batches):
        shards = [rank["records"]["seen"][step] for rank in ranks]
        for r, shard in enumerate(shards):
            assert torch.equal(shard, batch[r::2])  # rank r takes index[r::world_size]
        union = torch.cat(shards)
        assert len(set(union.tolist())) == len(union) == len(batch)  # disjoint
        assert torch.equal(union.sort().values, batch.sort().values)  # together, exactly the batch


def test_an_unused_parameter_does_not_stop_ddp(two_ranks):
    _, ranks = two_ranks
    for rank in ranks:
        assert torch.equal(rank["unused"]["state"]["unused"], torch.ones(3))
        assert rank["unused"]["log"]["steps"] == SMOKE.max_epochs * (SMOKE.n_train // SMOKE.batch_size)


def test_a_non_finite_loss_on_one_rank_stops_every_rank_at_once(two_ranks):
    single, ranks = two_ranks
    assert single["diverged"] is None
    assert [rank["diverged"] for rank in ranks] == ["loss became nan at epoch 0, step 0"] * 2


def test_data_parallel_shards_every_global_batch():
    index = torch.randperm(64, generator=torch.Generator().manual_seed(0))
    for world_size in (1, 2, 4, 8):
        shards = [_context(rank, world_size).shard(index) for rank in range(world_size)]
        assert {len(shard) for shard in shards} == {64 // world_size}
        assert torch.equal(torch.cat(shards).sort().values, torch.arange(64))


def _context(rank: int, world_size: int) -> DataParallel:
    return DataParallel(rank=rank, world_size=world_size, backend="none", wrap=lambda module: module,
                        all_reduce_sum=lambda values: values)


def test_rank0_writes_and_reuses_results_and_the_other_ranks_write_nothing(tmp_path):
    """The runner's DDP branches in one process: the collectives are stand-ins (a rank's own values
    are the sums), so rank 1 of 2 hears zeros from "rank 0" (decision: train) and trains its shards."""
    config = RunConfig(models=("reconstruct",), suite="spiked", cells=("both",), scale="smoke", seeds=(0,),
                       out=tmp_path / "rank0", device="cpu", data_parallel=_context(0, 1))
    [result] = run_benchmark(config)
    path = tmp_path / "rank0/spiked/reconstruct/both__seed0.json"
    assert result["status"] == "ok" and result["training"]["data_parallel"] == {"world_size": 1, "backend": "none"}
    written = path.read_bytes()
    assert run_benchmark(config) == [json.loads(written)] and path.read_bytes() == written  # reused, not re-run
    follower = RunConfig(models=("reconstruct",), suite="spiked", cells=("both",), scale="smoke", seeds=(0,),
                         out=tmp_path / "rank1", device="cpu", data_parallel=_context(1, 2))
    assert run_benchmark(follower) == []
    assert not list((tmp_path / "rank1").rglob("*.json"))

    # A single-process run never takes a data-parallel result as its own (nor the other way round),
    # and the leaderboard refuses it: it re-runs results in one process.
    from mmphase_bench.leaderboard.store import publishable_problem

    single = RunConfig(models=("reconstruct",), suite="spiked", cells=("both",), scale="smoke", seeds=(0,),
                       out=tmp_path / "rank0", device="cpu")
    [again] = run_benchmark(single)
    assert "data_parallel" not in again["training"] and path.read_bytes() != written
    assert "data-parallel" in publishable_problem({**json.loads(written), "scale": "small"})


def test_closed_form_models_are_fitted_on_rank0_only():
    suite, data = _smoke_data()
    for rank in (0, 1):
        model = reference.LinearCCA(suite.x_spec, suite.y_spec, suite.task)
        log = train(model, data["train"], data["val"], SMOKE, seed=0, device=CPU, data_parallel=_context(rank, 2))
        assert log.stopped == "closed_form" and model.fitted == (rank == 0)


# ------------------------------------------------------------------ the single-process loop is unchanged

#: Recorded with the code before DDP was added (torch 2.14.1+cu130, CPU, 1 thread): reconstruct and
#: vicreg on the smoke ``both`` cell of ``spiked``, seed 0. The loop with ``data_parallel=None`` must
#: give the same bytes, since published results are re-run bit for bit.
BEFORE_DDP = {
    "Reconstruct": ("b999d5b84f45011aabad749345825100a337c8a71d903c2ae478fc86f4195f5c",
                    [1.5712069272994995, 1.4297384917736053], [1.5970485210418701, 1.378568172454834]),
    "VICReg": ("ae76be3f415caabdedf25f3b85148cf37e38c229bb97cc18fe328b5e31caebfc",
               [48.35196304321289, 43.29255771636963], [45.074424743652344, 40.1380500793457]),
}


@pytest.mark.skipif(torch.__version__ != "2.14.1+cu130", reason="the hashes were recorded with torch 2.14.1+cu130")
@pytest.mark.parametrize("name", sorted(BEFORE_DDP))
def test_the_single_process_loop_gives_the_bytes_it_gave_before_ddp(name):
    suite, data = _smoke_data()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = getattr(reference, name)(suite.x_spec, suite.y_spec, suite.task)
        log = train(model, data["train"], data["val"], SMOKE, seed=0, device=CPU)
    finally:
        torch.set_num_threads(threads)
    assert (_state_hash(model), log.train_loss, log.val_loss) == BEFORE_DDP[name]
    assert "data_parallel" not in log.to_dict()


# ------------------------------------------------------------------ the command line


def test_ddp_through_torchrun_writes_one_result_that_matches_one_process(tmp_path, capsys):
    """``mmphase run --launcher torchrun --nproc-per-node 2`` (torchrun on ``mmphase run --ddp``):
    rank 0 alone writes the result, which records the world size and passes the leaderboard's checks."""
    from mmphase_bench.harness.results import ResultRecord
    from mmphase_bench.leaderboard.integrity import integrity_problem

    assert main([*ARGS, "--out", str(tmp_path / "one")]) == 0
    code = launch_torchrun([*ARGS, "--out", str(tmp_path / "ddp"), "--launcher", "torchrun", "--nproc-per-node", "2"], 2)
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "ddp").rglob("*.json")) == ["both__seed0.json"]
    one, ddp = (json.loads((tmp_path / out / "spiked/reconstruct/both__seed0.json").read_text()) for out in ("one", "ddp"))
    assert ddp["status"] == "ok" and ddp["training"]["data_parallel"] == {"world_size": 2, "backend": "gloo"}
    assert ddp["provenance"]["protocol_hash"] == one["provenance"]["protocol_hash"]
    assert ddp["training"]["train_loss"] == pytest.approx(one["training"]["train_loss"], rel=TOLERANCE, abs=0)
    for key in ("spectral_auc", "r2"):
        assert ddp["metrics"][key] == pytest.approx(one["metrics"][key], rel=0, abs=TOLERANCE)
    assert integrity_problem(ResultRecord.from_dict(ddp)) is None


def _one_error_line(capsys, argv) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_ddp_outside_torchrun_is_one_error_line(tmp_path, capsys, monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    line = _one_error_line(capsys, [*ARGS, "--out", str(tmp_path), "--ddp"])
    assert line.startswith("mmphase: error: ddp: RANK, WORLD_SIZE") and "torchrun" in line
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_nproc_per_node_without_the_torchrun_launcher_is_one_error_line(tmp_path, capsys):
    line = _one_error_line(capsys, [*ARGS, "--out", str(tmp_path), "--nproc-per-node", "2"])
    assert line.startswith("mmphase: error: nproc_per_node:")


def test_a_batch_size_that_does_not_divide_is_one_error_line(tmp_path):
    config = RunConfig(models=("reconstruct",), suite="spiked", cells=("both",), scale="smoke", seeds=(0,), out=tmp_path,
                       device="cpu", data_parallel=_context(0, 3))
    with pytest.raises(InputError, match=r"^world_size: the global batch size 64 must divide by the number of "
                                         r"processes, got 3$"):
        run_benchmark(config)
    suite, data = _smoke_data()
    with pytest.raises(InputError, match="^world_size"):
        train(reference.Reconstruct(suite.x_spec, suite.y_spec, suite.task), data["train"], data["val"], SMOKE, seed=0,
              device=CPU, data_parallel=_context(1, 3))


def test_the_torchrun_launcher_refuses_a_batch_size_that_does_not_divide_before_it_starts(tmp_path, capsys):
    line = _one_error_line(capsys, [*ARGS, "--out", str(tmp_path), "--launcher", "torchrun", "--nproc-per-node", "3"])
    assert line == ("mmphase: error: nproc_per_node: the global batch size 64 must divide by the number of processes, "
                    "got 3")
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_an_abbreviated_launcher_option_cannot_make_torchrun_start_itself_again(tmp_path, capsys):
    line = _one_error_line(capsys, [*ARGS, "--out", str(tmp_path), "--launch", "torchrun", "--ddp"])
    assert line.startswith("mmphase: error: ddp:")


def test_the_torchrun_command_drops_the_launcher_options():
    argv = ["-v", *ARGS, "--launcher", "torchrun", "--nproc-per-node", "4", "--out", "runs", "--launcher=torchrun",
            "--nproc-per-node=4"]
    command = torchrun_command(argv, 4)
    assert command[:6] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4", "-m"]
    assert command[6:] == ["mmphase_bench.cli.main", "-v", *ARGS, "--out", "runs", "--ddp"]
    assert torchrun_command([*ARGS, "--ddp"], 1).count("--ddp") == 1
    assert not set(LAUNCHER_OPTIONS) & set(command)
    for bad in (0, -1, True, "2"):
        with pytest.raises(InputError, match="^nproc_per_node must be a positive integer"):
            torchrun_command(ARGS, bad)
