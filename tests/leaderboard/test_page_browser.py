"""index.html in a real (headless) Chromium: tables, sorting by clicking headers, inline plots, a screenshot."""

import copy
import json
import struct
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
    pytest.skip(f"needs Chromium and its driver ({CHROMIUM}, {CHROMEDRIVER}); CI installs them "
                "(apt-get install chromium chromium-driver)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install 'selenium>=4.20')")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from mmphase_bench.harness.results import validate_result  # noqa: E402
from mmphase_bench.leaderboard.build import build, check  # noqa: E402
from mmphase_bench.leaderboard.store import relative_path  # noqa: E402
from leaderboard_evidence import matching_evidence  # noqa: E402  (tests/leaderboard helper)

#: spiked (small): submission -> cell -> per-seed R^2. Overall order charlie > alpha > bravo; by "both":
#: bravo (-0.49) < charlie (-0.05) < alpha (0.11), which as text would be charlie < bravo < alpha;
#: the names sort alpha < bravo < charlie.
SPIKED = {
    "alpha": {"both": [0.10, 0.12], "ca_only": [0.70, 0.72]},
    "bravo": {"both": [-0.50, -0.48], "ca_only": [0.20, 0.22]},
    "charlie": {"both": [-0.06, -0.04], "ca_only": [0.99, 0.97]},
}
STEREO_CELLS = {"jitter0-noise0.2": (0.0, 0.2), "jitter0-noise0.9": (0.0, 0.9), "jitter0.5-noise0.2": (0.5, 0.2),
                "jitter0.5-noise0.9": (0.5, 0.9)}
STEREO = {"alpha": [0.95, 0.6, 0.8, 0.4], "delta": [0.9, 0.7, 0.5, 0.35]}
#: The headline of harness/2 results, in the tables' headings.
SPECTRAL = "spectral AUC (probe on the top-r principal components, mean over log r)"


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A built leaderboard: spiked (small) with three submissions and stereo-dsprites (small) with two."""
    from mmphase_bench.harness.runner import RunConfig, run_benchmark

    (template,) = run_benchmark(RunConfig(models=("linear-cca",), suite="spiked", cells=("both",), scale="smoke",
                                          seeds=(0,), out=tmp_path_factory.mktemp("browser-run"), device="cpu"))
    board = tmp_path_factory.mktemp("browser-board")

    def add(suite, submission, cell, seed, metric, value, config=None, placement=None):
        result = copy.deepcopy(template)
        # the headline (harness/2) is the invented value; the converged probe's metric is another one
        result.update(suite=suite, scale="small", seed=seed, metrics={metric: value / 2 + 0.25, "spectral_auc": value})
        # Invented submissions, not the built-in whose run is the template (a built-in's name is reserved).
        result["submission"].update(name=submission, family="CA" if submission == "alpha" else "CP",
                                    source=f"module:example_models:{submission.title()}")
        result["cell"]["name"] = cell
        if config is not None:
            result["cell"].update(config=config, placement=placement)
        result = matching_evidence(result)  # check recomputes the invented metrics from the evidence
        validate_result(result)
        path = board / relative_path(result)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")

    for submission, cells in SPIKED.items():
        for cell, values in cells.items():
            for seed, value in enumerate(values):
                add("spiked", submission, cell, seed, "r2", value)
    for submission, values in STEREO.items():
        for (cell, (jitter, noise)), value in zip(STEREO_CELLS.items(), values):
            for seed, shift in enumerate((0.0, 0.02)):
                add("stereo-dsprites", submission, cell, seed, "top1", value - shift,
                    config={"jitter": jitter, "noise_y": noise, "nuisance_alignment": 1 - jitter},
                    placement={"regime": "ca_only", "delta_ca": 2.0 - jitter, "delta_cp": 0.5,
                               "ci": {"delta_ca": [1.0, 3.0], "delta_cp": [0.2, 0.9]}})
    build(board)
    assert check(board) == []
    return board


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--window-size=1280,1024"):
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    browser.set_page_load_timeout(30)
    yield browser
    browser.quit()


@pytest.fixture
def page(driver, board):
    """index.html freshly loaded (so that sorting starts from the rendered order)."""
    driver.get((board / "index.html").resolve().as_uri())
    assert driver.title == "mmphase-bench leaderboard"
    return driver


def values(page, table: int, column: int) -> list[str]:
    """The data-value of one column, top to bottom."""
    return page.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(r => r.cells[arguments[1]].getAttribute('data-value'));",
        f"#leaderboard-{table} tbody tr", column)


def rows(page, table: int) -> list[tuple[str, ...]]:
    return [tuple(td.text for td in tr.find_elements(By.TAG_NAME, "td"))
            for tr in page.find_elements(By.CSS_SELECTOR, f"#leaderboard-{table} tbody tr")]


def header(page, table: int, text: str):
    (found,) = [th for th in page.find_elements(By.CSS_SELECTOR, f"#leaderboard-{table} thead th") if th.text.strip() == text]
    return found


def classes(element) -> set[str]:
    return set((element.get_attribute("class") or "").split())


def test_tables_render_with_the_expected_rows(page):
    tables = page.find_elements(By.CSS_SELECTOR, "table.leaderboard")
    assert len(tables) == 2
    assert [h.text for h in page.find_elements(By.TAG_NAME, "h2")] == [
        f"spiked (small): {SPECTRAL}", f"stereo-dsprites (small): {SPECTRAL}"]
    assert len(rows(page, 0)) == 3 and len(rows(page, 1)) == 2
    assert [len(r) for r in rows(page, 0)] == [3 + 2 + 2] * 3
    assert [len(r) for r in rows(page, 1)] == [3 + 4 + 2] * 2
    assert all(table.is_displayed() and table.size["height"] > 0 for table in tables)
    assert values(page, 0, 1) == ["charlie", "alpha", "bravo"]  # rendered by overall score
    assert rows(page, 0)[2][3] == "-0.490 ± 0.014"


def test_clicking_the_submission_header_sorts_by_name(page):
    before = {r[1]: r for r in rows(page, 0)}
    column = header(page, 0, "submission")
    column.click()
    assert values(page, 0, 1) == ["alpha", "bravo", "charlie"]
    assert "sorted-asc" in classes(column)
    column.click()
    assert values(page, 0, 1) == ["charlie", "bravo", "alpha"]
    assert "sorted-desc" in classes(column) and "sorted-asc" not in classes(column)
    assert {r[1]: r for r in rows(page, 0)} == before  # whole rows move, cells stay with their row
    assert values(page, 1, 1) == ["alpha", "delta"]  # the other table is left alone


def test_clicking_a_cell_header_sorts_numerically(page):
    column = header(page, 0, "both (Both)")
    column.click()
    ascending = values(page, 0, 3)
    assert [float(v) for v in ascending] == pytest.approx([-0.49, -0.05, 0.11])  # numeric, not text order
    assert values(page, 0, 1) == ["bravo", "charlie", "alpha"]
    column.click()
    assert values(page, 0, 1) == ["alpha", "charlie", "bravo"]
    assert "sorted-desc" in classes(column)
    other = header(page, 0, "overall")
    other.click()
    assert values(page, 0, 1) == ["bravo", "alpha", "charlie"]
    assert classes(column) & {"sorted-asc", "sorted-desc"} == set()  # only one header shows a sort mark


def test_plots_are_inline_svg_with_a_size(page):
    plots = page.find_elements(By.CSS_SELECTOR, ".plots svg")
    # spiked: the phase diagram; stereo: accuracy vs nu_max, the spectral curves and the phase diagram
    assert len(plots) == 4
    for plot in plots:
        assert plot.is_displayed()
        assert plot.size["width"] > 100 and plot.size["height"] > 100
        assert page.execute_script("return arguments[0].getBBox().width", plot) > 0  # it has drawn content


def test_each_table_is_followed_by_its_placements_against_winners(page):
    agreements = page.find_elements(By.CSS_SELECTOR, "table.agreement")
    assert len(agreements) == 2 and all(table.is_displayed() for table in agreements)
    assert [h.text for h in page.find_elements(By.TAG_NAME, "h3")] == [
        "spiked (small): placements against winners", "stereo-dsprites (small): placements against winners"]
    cells = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in agreements[1].find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert [row[0] for row in cells] == list(STEREO_CELLS)
    # every stereo cell is placed CA only; alpha (CA) against delta (CP), 2 seeds 0.02 apart (sd 0.014)
    expected = [("CA" if a - d > 0.03 else "CP" if d - a > 0.03 else "tie") for a, d in zip(STEREO["alpha"], STEREO["delta"])]
    assert [row[8] for row in cells] == expected == ["CA", "CP", "CA", "CA"]
    assert [row[9] for row in cells] == ["yes", "no", "yes", "yes"]
    assert cells[0][6] == "alpha 0.940 ± 0.014" and cells[0][7] == "delta 0.890 ± 0.014"
    before = [tr.text for tr in agreements[1].find_elements(By.CSS_SELECTOR, "tbody tr")]
    agreements[1].find_elements(By.TAG_NAME, "th")[0].click()  # not a leaderboard table: not sortable
    assert [tr.text for tr in agreements[1].find_elements(By.CSS_SELECTOR, "tbody tr")] == before


def test_nothing_is_fetched_and_no_errors_are_logged(page):
    assert page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)") == []
    severe = [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []


def test_screenshot_is_a_png(page, tmp_path):
    target = tmp_path / "leaderboard.png"
    assert page.save_screenshot(str(target))
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 0 and height > 0
    from PIL import Image

    with Image.open(target) as image:
        assert image.size == (width, height)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is None or len(colours) > 10  # not a blank page
