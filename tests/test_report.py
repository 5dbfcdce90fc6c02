"""``factorbench report`` (factorbench/report/): the site of a real ci run, rendered in headless
Chromium (Debian's ``chromium``, driven by playwright with the system executable).

The browser test fails with one line when Chromium or playwright is missing: `.ci/run`
installs both, and a silent skip would hide a report nobody has looked at.
"""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from factorbench.cli import main
from factorbench.report.captions import figure_caption
from factorbench.report.cards import protocol_cards
from factorbench.figures.plots import seed_band, smooth

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def test_smooth_and_band_hand_cases():
    import numpy as np
    import pandas as pd

    assert np.allclose(smooth(np.array([0.0, 3.0, 6.0, 9.0]), 3), [1.5, 3.0, 6.0, 7.5])
    a = pd.Series([1.0, 2.0, 3.0], index=[1, 2, 3])
    b = pd.Series([3.0, 4.0], index=[2, 3])
    steps, mean, std = seed_band([a, b])
    assert list(steps) == [2, 3] and list(mean) == [2.5, 3.5]  # a: 2, 3; b: 3, 4
    assert np.allclose(std, [np.sqrt(0.5), np.sqrt(0.5)])


def test_protocol_cards_group_distinct_protocols():
    recs = [{"metric": "fid_saved", "protocol": {"mode": "saved", "n_fake": 10}, "versions": {"torch": "2"}},
            {"metric": "fid_saved", "protocol": {"mode": "saved", "n_fake": 10}, "versions": {"torch": "2"}},
            {"metric": "fid_saved", "protocol": {"mode": "saved", "n_fake": 20}, "versions": {"torch": "3"}}]
    (card,) = protocol_cards(recs, ["fid_saved", "absent"])
    assert [n for _, n in card.protocols] == [2, 1]
    assert ("n_fake", "20") in card.protocols[1][0]
    assert card.versions == [("torch", "2, 3")]


def test_figure_captions_name_the_thesis_figure():
    assert "Fig 6.2" in figure_caption("glimpses_errors")
    assert "cub" in figure_caption("boxes_cub")
    assert figure_caption("something_new") == "something new"


@pytest.fixture(scope="module")
def ci_report(tmp_path_factory):
    """The report of a real `bench run vae_beta_sweep --preset ci --report` (about 30 s on 2 cores).

    The spec is the shipped one plus the `samples` evaluator, which writes sample and
    reconstruction grids, so the page has evaluator figures too (metrics do not enter cell
    ids: the cells, records and findings are the shipped spec's)."""
    from factorbench.paths import benchmarks_dir

    root = tmp_path_factory.mktemp("report")
    text = (benchmarks_dir() / "vae_beta_sweep.toml").read_text()
    assert 'metrics = ["recon_mse", "probe_linear"]' in text
    spec = root / "vae_beta_sweep.toml"
    spec.write_text(text.replace('metrics = ["recon_mse", "probe_linear"]',
                                 'metrics = ["recon_mse", "probe_linear", "samples"]', 1))
    res = CliRunner().invoke(main, ["--quiet", "bench", "run", str(spec), "--preset", "ci", "--workdir",
                                    str(root / "runs"), "--results", str(root / "results"), "--report",
                                    str(root / "site")])
    assert res.exit_code == 0, res.output
    assert "Findings (vae_beta_sweep, ci)" in res.output and "report:" in res.output
    return root / "site"


def test_report_files(ci_report):
    index = (ci_report / "index.html").read_text()
    page = (ci_report / "vae_beta_sweep.html").read_text()
    assert 'href="vae_beta_sweep.html"' in index
    assert "paper scale" in page  # the thesis column says the thesis measured elsewhere
    assert "3.1.mse-beta-sweep" in page and "Protocols" in page
    plots = sorted(p.name for p in (ci_report / "vae_beta_sweep" / "plots").glob("*.png"))
    assert "loss-vae.png" in plots and "recon_mse-vs-beta.png" in plots
    figures = list((ci_report / "vae_beta_sweep" / "figures").glob("vae-*/samples.png"))
    assert len(figures) == 2  # seed 0 of each β
    assert "random samples from the prior" in page


def test_report_renders_in_chromium(ci_report, tmp_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install playwright (.ci/run does)", pytrace=False)
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)", pytrace=False)
    errors = []
    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                                    args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            for name, tables in (("index.html", {"benchmarks": 1, "all-findings": 1}),
                                 ("vae_beta_sweep.html", {"results-table": 2, "findings": 1})):
                page.goto((ci_report / name).as_uri())
                page.wait_for_load_state("load")
                broken = page.eval_on_selector_all("img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0))"
                                                          ".map(i => i.getAttribute('src'))")
                assert broken == [], f"{name}: images that did not load: {broken}"
                for css_id, n_rows in tables.items():
                    rows = page.eval_on_selector_all(f"#{css_id} tbody tr", "rs => rs.length")
                    assert rows == n_rows, (name, css_id, rows)
                shot = tmp_path / f"{Path(name).stem}.png"
                page.screenshot(path=str(shot), full_page=True)
                shots.append(shot)
            n_images = page.eval_on_selector_all("img", "imgs => imgs.length")
        finally:
            browser.close()
    assert errors == [], errors
    assert n_images >= 7  # loss curves, 3 metric-vs-β plots, samples and reconstructions of 2 cells
    assert all(s.stat().st_size > 10_000 for s in shots)
