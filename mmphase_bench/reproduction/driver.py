"""Run the chosen experiments of ``mmphase reproduce`` and write ``reproduction.json``.

Each finished experiment's numbers are stored in ``experiments/<name>.json`` under a key (the
experiment's name, version and source hash, the scale and seeds); a later run with the same key
reuses them, so an interrupted ``mmphase reproduce`` resumes with the next experiment, and training
inside an experiment resumes through the harness's own result files. ``reproduction.json`` then
collects every stored experiment of this scale (those of earlier runs with other ``only`` too) with
the provenance of the run that wrote it.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from mmphase_bench.reproduction.experiment import Context, ReproduceConfig, plain
from mmphase_bench.reproduction.registry import EXPERIMENT_NAMES, get_experiment

logger = logging.getLogger(__name__)

#: the format of ``reproduction.json``
REPORT_FORMAT = "mmphase-reproduction/1"


def experiment_key(config: ReproduceConfig, name: str) -> dict:
    """What an experiment's stored numbers depend on; they are reused only under the same key."""
    experiment = get_experiment(name)
    module = sys.modules[experiment.run.__module__]
    source = inspect.getsource(module).encode("utf-8")
    return {"experiment": name, "version": experiment.version, "source_sha256": hashlib.sha256(source).hexdigest(),
            "scale": config.scale, "seeds": list(config.seeds) if experiment.uses_seeds else None}


def _stored(path: Path, key: dict) -> dict | None:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or stored.get("key") != key or not isinstance(stored.get("numbers"), dict):
        return None
    return stored


def reproduce(config: ReproduceConfig) -> dict:
    """Run (or reuse) every experiment of ``config`` and write ``<out>/reproduction.json``; returns it."""
    from mmphase_bench.io.atomic import write_text_atomic

    config.out.mkdir(parents=True, exist_ok=True)
    chosen = config.experiments
    for position, name in enumerate(chosen, start=1):
        key = experiment_key(config, name)
        path = config.out / "experiments" / f"{name}.json"
        if _stored(path, key) is not None:
            logger.info("reproduce %s (%d/%d): reused %s", name, position, len(chosen), path)
            continue
        experiment = get_experiment(name)
        logger.info("reproduce %s (%d/%d): %s", name, position, len(chosen), experiment.title)
        if config.progress:
            print(f"[{position}/{len(chosen)}] {name}: {experiment.title}", file=sys.stderr, flush=True)
        context = Context(config=config, experiment=name)
        numbers = plain(experiment.run(context))
        record = {"key": key, "title": experiment.title, "reproduces": experiment.reproduces,
                  "figures": sorted(context.figures), "numbers": numbers,
                  "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        write_text_atomic(path, json.dumps(record, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return write_report(config)


def write_report(config: ReproduceConfig) -> dict:
    """Collect the stored experiments of ``config.scale`` into ``reproduction.json`` (atomically)."""
    from mmphase_bench.io.atomic import write_text_atomic

    experiments = {}
    for name in EXPERIMENT_NAMES:
        path = config.out / "experiments" / f"{name}.json"
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(stored, dict) and isinstance(stored.get("key"), dict) and stored["key"].get("scale") == config.scale:
            current = stored.get("key") == experiment_key(config, name)
            experiments[name] = {**{k: stored.get(k) for k in ("title", "reproduces", "figures", "numbers", "key",
                                                               "finished_at")},
                                 "current": current}
    report = {
        "format": REPORT_FORMAT, "scale": config.scale,
        "provenance": _provenance(config), "experiments": experiments,
    }
    text = json.dumps(plain(report), indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_text_atomic(config.out / "reproduction.json", text)
    write_text_atomic(config.out / "tables.md", tables_markdown(report))
    return json.loads(text)


def tables_markdown(report: dict) -> str:
    """Every experiment's tables (its ``tables`` function), for pasting verbatim into a document between
    ``<!-- tables:NAME -->`` and ``<!-- /tables:NAME -->`` (a test regenerates them from the JSON)."""
    parts = [f"# mmphase reproduce: tables ({report['scale']} scale)\n"]
    for name, entry in report["experiments"].items():
        experiment = get_experiment(name)
        parts.append(f"## {name}: {entry['title']}\n")
        if experiment.tables is not None:
            parts.append(experiment.tables(entry["numbers"]).rstrip() + "\n")
        parts.append("Figures: " + ", ".join(entry["figures"]) + "\n")
    return "\n".join(parts)


def _provenance(config: ReproduceConfig) -> dict:
    import numpy
    import torch

    from mmphase_bench._version import __version__
    from mmphase_bench.harness.results import git_commit
    from mmphase_bench.harness.runner import resolve_device

    device = resolve_device(config.device)
    name = str(device) if device.type != "cuda" else f"{device} ({torch.cuda.get_device_name(device)})"
    return {"package_version": __version__, "git_commit": git_commit(), "python": platform.python_version(),
            "torch": torch.__version__, "numpy": numpy.__version__, "device": name,
            "config": config.to_dict(), "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
