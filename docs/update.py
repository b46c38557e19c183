"""Update docs/ from a ``mmphase reproduce`` output folder:

    python docs/update.py OUT

copies OUT/reproduction.json to docs/reproduction.json and the PNG figures to docs/figures/ (reduced to
a 256-colour palette, so they stay a few hundred kB), then renders docs/REPRODUCTION.md from
docs/REPRODUCTION.template.md: ``{{tables:NAME}}`` becomes the experiment's tables (its ``tables``
function on the JSON) between ``<!-- tables:NAME -->`` markers, and ``{{PATH|DIGITS}}`` becomes the
number at PATH in the JSON (``EXPERIMENT/key/...``) with DIGITS decimals and an invisible marker
naming PATH. tests/reproduction/test_reproduction_doc.py checks the result against the JSON.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
PLACEHOLDER = re.compile(r"\{\{([^}|]+)\|(\d)\}\}")
TABLES = re.compile(r"\{\{tables:(\w+)\}\}")


def render(template: str, report: dict) -> str:
    """The document: every placeholder of ``template`` filled from ``report`` (a reproduction.json)."""
    from mmphase_bench.reproduction.experiment import lookup, quote
    from mmphase_bench.reproduction.registry import get_experiment

    def tables(match: re.Match) -> str:
        name = match.group(1)
        text = get_experiment(name).tables(report["experiments"][name]["numbers"]).strip()
        return f"<!-- tables:{name} -->\n{text}\n<!-- /tables:{name} -->"

    def number(match: re.Match) -> str:
        path, digits = match.group(1).strip(), int(match.group(2))
        value = lookup(report, path)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"{path} is not a number in the report: {value!r}")
        return quote(value, path, digits)

    return PLACEHOLDER.sub(number, TABLES.sub(tables, template))


def main(out: Path) -> None:
    from PIL import Image

    report = json.loads((out / "reproduction.json").read_text(encoding="utf-8"))
    figures = DOCS / "figures"
    figures.mkdir(exist_ok=True)
    for old in figures.glob("*.png"):
        old.unlink()
    for entry in report["experiments"].values():
        for path in entry["figures"]:
            if path.endswith(".png"):
                with Image.open(out / path) as image:
                    image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
                        figures / Path(path).name, optimize=True)
    shutil.copyfile(out / "reproduction.json", DOCS / "reproduction.json")
    template = (DOCS / "REPRODUCTION.template.md").read_text(encoding="utf-8")
    (DOCS / "REPRODUCTION.md").write_text(render(template, report), encoding="utf-8")
    total = sum(p.stat().st_size for p in figures.glob("*.png"))
    print(f"docs/REPRODUCTION.md rendered; {len(list(figures.glob('*.png')))} figures, {total / 1e3:.0f} kB")


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "reproduction.json").is_file():
        sys.exit("usage: python docs/update.py OUT (a mmphase reproduce output folder)")
    main(Path(sys.argv[1]))
