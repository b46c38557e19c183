"""Training throughput of the harness against the same model's bare training step.

Run: ``python benchmarks/bench_harness.py`` (``--quick`` for a short smoke run).

In one run on the same machine, for a reference model on a Stereo-dSprites cell:

* the harness's ``train()`` loop (index the in-memory split, loss, clipping, Adam step), with the
  per-epoch validation pass switched off so that only the training steps are timed;
* the bare step: the same model, loss, clipping and optimiser on one batch already in memory, for
  the same number of steps;
* the one-off cost of generating the training split, spread over the steps of one epoch.

The data pipeline's cost is ``harness / bare - 1``; target: under 10% of the step time.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import torch

from mmphase_bench.harness import training
from mmphase_bench.harness.scales import get_scale
from mmphase_bench.harness.submission import load_submission
from mmphase_bench.harness.suites import get_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--model", default="vicreg")
    args = parser.parse_args()
    suite = get_suite("stereo-dsprites")
    cell = suite.cell("jitter0.2-noise0.5")
    epochs = 1 if args.quick else 3
    scale = dataclasses.replace(get_scale("small"), n_train=512 if args.quick else 2048, max_epochs=epochs, patience=epochs + 1)
    device = torch.device("cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPU cores; model {args.model}")

    start = time.perf_counter()
    data = suite.make_split(cell, "train", scale.n_train, 0)
    generation = time.perf_counter() - start
    val = suite.make_split(cell, "val", 128, 0)
    loaded = load_submission(args.model)

    def harness_run() -> tuple[float, int]:
        torch.manual_seed(0)
        model = loaded.build(suite.x_spec, suite.y_spec, suite.task)
        original = training.evaluate_loss
        training.evaluate_loss = lambda *a, **k: 0.0  # time the training steps only
        try:
            start = time.perf_counter()
            log = training.train(model, data, val, scale, seed=0, device=device)
            return time.perf_counter() - start, log.steps
        finally:
            training.evaluate_loss = original

    def bare_run(steps: int) -> float:
        torch.manual_seed(0)
        model = loaded.build(suite.x_spec, suite.y_spec, suite.task)
        optimizer = torch.optim.Adam(model.parameters(), lr=scale.learning_rate)
        x, y, labels = (t[: scale.batch_size].clone() for t in (data.x, data.y, data.labels))
        model.train()
        start = time.perf_counter()
        for _ in range(steps):
            loss = model.loss(x, y, labels) if model.uses_labels else model.loss(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if scale.gradient_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), scale.gradient_clip)
            optimizer.step()
            float(loss.detach())
        return time.perf_counter() - start

    bare_run(5)  # warm-up: allocator and kernel caches, so that neither side pays them
    rounds = 1 if args.quick else 2
    harness_times, bare_times = [], []
    for _ in range(rounds):  # alternate, keep the best of each (the least disturbed)
        seconds, steps = harness_run()
        harness_times.append(seconds)
        bare_times.append(bare_run(steps))
    harness_seconds, bare_seconds = min(harness_times), min(bare_times)

    per_step = bare_seconds / steps
    overhead = harness_seconds / bare_seconds - 1
    generation_per_step = generation / (scale.n_train // scale.batch_size)
    print(f"\n{steps} steps of batch {scale.batch_size}")
    print(f"harness train()   {harness_seconds:7.2f} s   {steps / harness_seconds:7.1f} steps/s")
    print(f"bare step         {bare_seconds:7.2f} s   {steps / bare_seconds:7.1f} steps/s   ({per_step * 1e3:.1f} ms per step)")
    print(f"data pipeline in the loop: {overhead * 100:+.1f}% of the step time (target < 10%)")
    print(f"generating the split once: {generation:.2f} s = {generation_per_step * 1e3:.2f} ms per step of one epoch "
          f"({generation_per_step / per_step * 100:.1f}% of a step; amortised over all epochs)")


if __name__ == "__main__":
    main()
