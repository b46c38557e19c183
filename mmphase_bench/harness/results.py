"""Result files: one JSON per (submission, suite, cell, seed), versioned schema, atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import subprocess
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from mmphase_bench._version import __version__
from mmphase_bench.io.atomic import write_text_atomic

SCHEMA_VERSION = 1
#: The harness protocol (training loop, probe, diagnostics). Part of every protocol hash.
PROTOCOL_VERSION = "harness/1"


@lru_cache(maxsize=1)
def result_schema() -> dict:
    """The JSON Schema of result files (shipped in the package)."""
    return json.loads(resources.files("mmphase_bench.harness").joinpath("result.schema.json").read_text())


def _non_finite(value, where: str = "") -> str | None:
    """The location of the first NaN or infinite number (JSON Schema lets NaN through)."""
    if isinstance(value, float) and not np.isfinite(value):
        return where or "(top level)"
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f"{where}/{key}" if where else str(key))
        if found:
            return found
    return None


def validate_result(result: dict) -> None:
    """Raise ``ValueError`` naming the first schema violation or non-finite number."""
    import jsonschema

    where = _non_finite(result)
    if where:
        raise ValueError(f"result holds a NaN or infinite number at {where}")
    try:
        jsonschema.validate(result, result_schema())
    except jsonschema.ValidationError as error:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ValueError(f"result does not match the schema at {where}: {error.message}") from None


def protocol_hash(suite: str, cell: dict, scale: dict, submission_hash: str) -> str:
    """What a result depends on besides the seed: harness protocol, suite, cell, scale and the submission's code."""
    payload = {"protocol": PROTOCOL_VERSION, "suite": suite, "cell": cell, "scale": scale, "submission": submission_hash}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def result_path(out: Path, suite: str, submission: str, cell: str, seed: int) -> Path:
    return Path(out) / suite / submission / f"{cell}__seed{seed}.json"


def read_result(path: Path) -> dict | None:
    """A previous result, or None if it is missing, unreadable or invalid (it is then redone)."""
    try:
        result = json.loads(Path(path).read_text())
        validate_result(result)
        return result
    except (OSError, ValueError):
        return None


def write_result(path: Path, result: dict) -> None:
    """Validate what will be on disk (non-finite numbers become strings, which the schema rejects
    where a number is required), then write it atomically."""
    plain = _plain(result)
    validate_result(plain)
    write_text_atomic(path, json.dumps(plain, indent=2, sort_keys=True) + "\n")


def _plain(value):
    """JSON-ready copy: numpy scalars to Python, non-finite floats to strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if np.isfinite(value) else str(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    try:
        root = Path(__file__).resolve().parents[2]
        output = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return output.stdout.strip() or None if output.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def provenance(*, protocol: str, fingerprints: dict, device: torch.device, wall_time: float) -> dict:
    from datetime import datetime, timezone

    name = str(device)
    if device.type == "cuda":
        name = f"{device} ({torch.cuda.get_device_name(device)})"
    return {
        "package_version": __version__, "git_commit": git_commit(), "protocol_version": PROTOCOL_VERSION,
        "protocol_hash": protocol, "dataset_fingerprints": fingerprints, "torch": torch.__version__,
        "numpy": np.__version__, "python": platform.python_version(), "device": name,
        "wall_time_s": float(wall_time), "peak_memory_mib": float(peak_memory_mib(device)),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host_cpus": os.cpu_count(),
        # CPU results are bit-identical only at the same intra-op thread count (reduction order).
        "torch_threads": torch.get_num_threads(),
    }
