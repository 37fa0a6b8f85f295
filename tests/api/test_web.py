"""The web page (autointerp/api/static/, served at /ui/ by autointerp/api/web.py) in a real
headless Chromium — Debian's ``chromium`` package (``make test`` installs it; see
scripts/install_chromium.sh), driven by Playwright — against a real ``autointerp serve``
over the store of two real pipeline runs: the demo SAE (first 6 live latents, detection +
fuzz with bootstrap CIs) and a random-weights SAE of the same shape (``random:demo``,
embedding scorer). What the page shows is checked against the API's JSON and the Parquet
files. Screenshots are kept under test-artifacts/browser/ (AUTOINTERP_TEST_ARTIFACTS)."""

from __future__ import annotations

import io
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from autointerp.config import CacheConfig, CorpusConfig, RunConfig, SamplingConfig, ScoringConfig
from tests.api.conftest import Server, start_server, stop_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("AUTOINTERP_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SMALL = RunConfig(
    latents="live:6",
    cache=CacheConfig(dtype="float32"),
    corpus=CorpusConfig(n_tokens=6400),
    sampling=SamplingConfig(n_explain=6, n_score=6, n_nonactivating=6, min_examples=4),
    scoring=ScoringConfig(scorers=("detection", "fuzz"), n_bootstrap=20),
)


def chromium_path() -> str | None:
    """AUTOINTERP_CHROMIUM, else a Chromium/Chrome on PATH."""
    named = os.environ.get("AUTOINTERP_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        why = "no Chromium: run scripts/install_chromium.sh or set AUTOINTERP_CHROMIUM"
        if os.environ.get("AUTOINTERP_REQUIRE_BROWSER") == "1":
            pytest.fail(why)
        pytest.skip(why)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two real runs into one store: the demo SAE and random:demo."""
    from autointerp.pipeline import run

    store = tmp_path_factory.mktemp("web-store")
    demo = run(SMALL, store, progress=False)
    rand_cfg = RunConfig.from_dict(
        {**SMALL.to_dict(), "sae": "random:demo", "scoring": {"scorers": ["embedding"]}}
    )
    rand = run(rand_cfg, store, progress=False)
    return {"store": store, "demo": demo, "random": rand}


@pytest.fixture(scope="module")
def server(runs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOINTERP_")}
    for keep in ("AUTOINTERP_CACHE_DIR", "AUTOINTERP_ACTIVATIONS_DIR"):
        if keep in os.environ:
            env[keep] = os.environ[keep]
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    srv = start_server(runs["store"], tmp_path_factory.mktemp("web-log") / "serve.log", env)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page; JavaScript errors fail the test; a full-page screenshot is kept."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    pg.on(
        "console",
        lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
    )
    pg.set_default_timeout(60_000)
    yield pg
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    expected = getattr(request.node, "expected_errors", 0)
    assert len(errors) == expected, errors


def open_view(page: Any, server: Server, route: str) -> None:
    page.goto(f"{server.url}/ui/{route}")
    page.wait_for_selector("body[data-state=ready]")


def api(server: Server, path: str, **params: Any) -> Any:
    r = httpx.get(f"{server.url}{path}", params=params, timeout=300)
    r.raise_for_status()
    return r.json()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def js_fmt(x: float, digits: int) -> str:
    """The page's number format (util.js fmt) for values in [0, 1]."""
    return str(int(x)) if float(x).is_integer() else f"{x:.{digits}f}"


def orange_pixels(png: bytes) -> int:
    """Pixels tinted by the token highlight (rgba(255, 120, 0, a) over white): red well
    above blue. Text, borders and the page's greys and blues never are."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(1 for r, _g, b in img.getdata() if r > 200 and r - b > 50)


def test_the_root_redirects_to_the_page_and_its_files_are_served(server: Server) -> None:
    r = httpx.get(f"{server.url}/", follow_redirects=True, timeout=30)
    assert r.status_code == 200 and str(r.url).endswith("/ui/")
    assert '<script type="module" src="app.js">' in r.text
    for name, kind in [("app.js", "javascript"), ("style.css", "text/css")]:
        f = httpx.get(f"{server.url}/ui/{name}", timeout=30)
        assert f.status_code == 200 and kind in f.headers["content-type"], name
    assert httpx.get(f"{server.url}/ui/nope.js", timeout=30).status_code == 404
    scorers = {s["scorer"]: s["primary_metric"] for s in api(server, "/scorers")["items"]}
    assert scorers["detection"] == "auroc" and scorers["intervention"] == "mean_delta"


def test_the_checkpoint_list_shows_both_runs_with_score_summaries(
    page: Any, server: Server
) -> None:
    page.goto(f"{server.url}/")  # redirected to /ui/
    page.wait_for_selector("body[data-state=ready]")
    assert page.url.endswith("/ui/")
    expected = {c["checkpoint"]: c for c in api(server, "/checkpoints")["items"]}
    rows = page.locator("#checkpoints tbody tr")
    assert rows.count() == 2
    shown = {rows.nth(i).get_attribute("data-checkpoint") for i in range(2)}
    assert shown == set(expected)
    for sha, c in expected.items():
        row = page.locator(f'#checkpoints tr[data-checkpoint="{sha}"]')
        assert c["hook_name"] in row.inner_text()
        for scorer, mean in c["mean_scores"].items():
            cell = row.locator(f'td[data-scorer="{scorer}"]').inner_text()
            assert float(cell) == pytest.approx(mean, abs=5e-4), (sha, scorer)
    assert page.locator("#compare-selected").is_disabled()


def test_the_latent_browser_filters_searches_and_sorts(page: Any, server: Server) -> None:
    open_view(page, server, "#/latents")
    total = api(server, "/latents", limit=1)["total"]
    assert total == 12  # 6 latents explained in each run
    assert page.locator("#total").get_attribute("data-total") == str(total)
    assert page.locator("#latents tbody tr").count() == total
    scores = [float(s) for s in page.locator("#latents tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.score).filter(s => s !== '')")]  # fmt: skip
    assert scores == sorted(scores, reverse=True) and len(scores) >= 6  # best score first

    # one checkpoint
    ckpts = api(server, "/checkpoints")["items"]
    demo = next(c for c in ckpts if c["sae_path"] != "random:demo")["checkpoint"]
    page.select_option("select[name=checkpoint]", demo)
    page.wait_for_function("document.querySelector('#total')?.dataset.total === '6'")
    sha = page.locator("#latents tbody tr").evaluate_all("rs => rs.map(r => r.dataset.checkpoint)")
    assert set(sha) == {demo}

    # a scorer and a minimum score: what the API returns for the same filters
    page.select_option("select[name=scorer]", "detection")
    page.fill("input[name=min_score]", "0.5")
    want = api(
        server,
        "/latents",
        checkpoint=demo,
        scorer="detection",
        min_score=0.5,
        sort="score",
        order="desc",
    )
    assert 0 < want["total"] < 6, "the run should have latents on both sides of 0.5"
    page.wait_for_function(
        f"document.querySelector('#total')?.dataset.total === '{want['total']}'"
        " && location.hash.includes('min_score=0.5')"
    )
    got = page.locator("#latents tbody tr").evaluate_all(
        "rs => rs.map(r => [Number(r.dataset.latent), Number(r.dataset.score)])"
    )
    assert [g[0] for g in got] == [i["latent"] for i in want["items"]]
    assert all(score >= 0.5 for _, score in got)
    shot(page, "latents_filtered")

    # text search, across both checkpoints, as the API answers it
    page.select_option("select[name=scorer]", "")
    page.fill("input[name=min_score]", "")
    page.select_option("select[name=checkpoint]", "")
    # a word that some explanations have and others lack (from the runs' own explanations)
    texts_all = [str(i["explanation"]) for i in api(server, "/latents", limit=1000)["items"]]
    counts = Counter(w for t in texts_all for w in set(re.findall(r"[a-z]{3,}", t.lower())))
    word = next(w for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n < total)
    want_q = api(server, "/latents", q=word)["total"]
    assert 0 < want_q < total
    page.fill("input[name=q]", word)
    page.wait_for_function(
        f"document.querySelector('#total')?.dataset.total === '{want_q}'"
        " && location.hash.includes('q=')"
    )
    texts = page.locator("#latents tbody td.expl").all_inner_texts()
    assert len(texts) == want_q and all(word in t.lower() for t in texts)

    # ascending latent order; the filters are in the hash, so a reload shows the same view
    page.select_option("select[name=sort]", "latent")
    page.select_option("select[name=order]", "asc")
    page.wait_for_function("location.hash.includes('order=asc')")
    page.wait_for_function(
        "(() => { const l = [...document.querySelectorAll('#latents tbody tr')]"
        ".map(r => Number(r.dataset.latent)); return l.length > 1 && "
        "l.every((x, i) => i === 0 || l[i - 1] <= x); })()"
    )
    page.reload()
    page.wait_for_selector("body[data-state=ready]")
    assert page.input_value("input[name=q]") == word
    assert page.locator("#total").get_attribute("data-total") == str(want_q)


def test_a_latent_shows_explanation_scores_with_cis_and_highlighted_examples(
    page: Any, server: Server, runs: dict[str, Any]
) -> None:
    store: Path = runs["store"]
    run_id = runs["demo"].run_id
    expl = pd.read_parquet(store / "explanations" / f"{run_id}.parquet")
    scores = pd.read_parquet(store / "scores" / f"{run_id}.parquet")
    examples = pd.read_parquet(store / "examples" / f"{run_id}.parquet")
    best = scores[scores.scorer == "detection"].sort_values("auroc", ascending=False).iloc[0]
    latent, sha = int(best.latent), str(best.sae_sha256)

    open_view(page, server, "#/latents")
    page.click(f'#latents tr[data-latent="{latent}"][data-checkpoint="{sha}"] a')
    page.wait_for_selector("#latent-title")
    page.wait_for_selector("body[data-state=ready]")
    assert f"Latent {latent}" in page.inner_text("#latent-title")

    text = expl[(expl.latent == latent)].explanation.iloc[0]
    assert page.locator("#explanations .explanation").first.inner_text().startswith(text)

    # every score with its CI, as stored
    for scorer in ("detection", "fuzz"):
        row = scores[(scores.latent == latent) & (scores.scorer == scorer)].iloc[0]
        cell = page.locator(f'#scores tr[data-scorer="{scorer}"] td.primary').inner_text()
        ci = f"[{js_fmt(row.auroc_ci_low, 2)}, {js_fmt(row.auroc_ci_high, 2)}]"
        assert cell.startswith(f"{js_fmt(row.auroc, 3)} {ci}"), (cell, ci)
        assert row.auroc_ci_low < row.auroc_ci_high  # a real bootstrap interval

    # examples of both kinds, as many as stored
    mine = examples[examples.latent == latent]
    n_act = int(mine.role.isin(["explain", "score"]).sum())
    assert page.locator("#activating .example").count() == n_act
    assert page.locator("#nonactivating .example").count() == len(mine) - n_act

    # highlighting: a token's opacity is its activation over the latent's maximum (the
    # statistics' max_act, seen over the whole cache); silent tokens are not coloured
    stats = pd.read_parquet(store / "latents" / f"{run_id}.parquet")
    top = max(float(a) for acts in mine.acts for a in acts)
    scale = max(top, float(stats[stats.latent == latent].max_act.iloc[0]))
    top_tok = page.locator("#activating .tok.max").evaluate_all(
        "ts => ts.map(t => [Number(t.dataset.act), getComputedStyle(t).backgroundColor])"
    )
    strongest = max(top_tok, key=lambda t: t[0])
    assert strongest[0] == pytest.approx(top, rel=1e-4)
    assert strongest[1].startswith("rgb")
    parts = strongest[1][strongest[1].index("(") + 1 : -1].split(",")
    assert [int(p) for p in parts[:3]] == [255, 120, 0]
    alpha = float(parts[3]) if len(parts) == 4 else 1.0
    # (Chromium keeps alpha in steps of 1/255)
    assert alpha == pytest.approx(top / scale, abs=0.005) and alpha > 0.3
    silent = page.locator("#activating .tok[data-act='0']").first
    assert silent.evaluate("t => getComputedStyle(t).backgroundColor") == "rgba(0, 0, 0, 0)"
    # and it is visible in the rendered pixels
    first_act = page.locator("#activating .example").first
    first_neg = page.locator("#nonactivating .example").first
    assert orange_pixels(first_act.screenshot()) > 30
    assert orange_pixels(first_neg.screenshot()) == 0
    shot(page, f"latent_{latent}")


def test_the_comparison_view_puts_matched_latents_side_by_side(page: Any, server: Server) -> None:
    ckpts = api(server, "/checkpoints")["items"]
    demo = next(c for c in ckpts if c["sae_path"] != "random:demo")["checkpoint"]
    rand = next(c for c in ckpts if c["sae_path"] == "random:demo")["checkpoint"]

    # from the checkpoint list: tick both, compare
    open_view(page, server, "#/")
    page.check(f'input.compare-pick[value="{demo}"]')
    assert page.locator("#compare-selected").is_disabled()
    page.check(f'input.compare-pick[value="{rand}"]')
    page.click("#compare-selected")
    page.wait_for_selector("#pairs", timeout=180_000)
    page.wait_for_selector("body[data-state=ready]")
    first, second = (page.locator(f'[data-side="{s}"] .mono').inner_text() for s in ("A", "B"))
    want = api(server, "/compare", checkpoints=[first, second], pairs="true")
    rows = [r for r in want["latent_pairs"]
            if r["checkpoint"] == first and r["other_checkpoint"] == second]  # fmt: skip
    assert {first, second} == {demo, rand}
    assert page.locator("#pairs tr.pair").count() == len(rows) == 6
    shown = page.locator("#pairs tr.pair").evaluate_all(
        "rs => rs.map(r => [Number(r.dataset.latent), Number(r.dataset.matched)])"
    )
    assert sorted(map(tuple, shown)) == sorted((r["latent"], r["matched_latent"]) for r in rows)
    mean = want["pairs"][0]["matched"]["mean"]
    assert page.inner_text("#matched-mean .value") == f"{mean:.3f}"
    # the matched explanation of B sits next to A's
    r0 = rows[0]
    row = page.locator(f'#pairs tr.pair[data-latent="{r0["latent"]}"]')
    assert r0["explanation"] in row.inner_text() and r0["matched_explanation"] in row.inner_text()
    shot(page, "compare_demo_random")

    # filtering by similarity
    page.fill("#min-sim", "0.6")
    n = sum(r["matched_similarity"] >= 0.6 for r in rows)
    page.wait_for_function(f"document.querySelector('#pair-count').dataset.count === '{n}'")
    assert page.locator("#pairs tr.pair").count() == n

    # the demo SAE against itself: every latent matched to itself at similarity 1
    open_view(page, server, f"#/compare?c={demo}&c={demo}")
    assert page.inner_text("#matched-mean .value") == "1.000"
    same = page.locator("#pairs tr.pair").evaluate_all(
        "rs => rs.map(r => r.dataset.latent === r.dataset.matched)"
    )
    assert len(same) == 6 and all(same)
    shot(page, "compare_demo_itself")


def test_errors_are_shown_not_swallowed(
    page: Any, server: Server, request: pytest.FixtureRequest
) -> None:
    ckpt = api(server, "/checkpoints")["items"][0]["checkpoint"]
    request.node.expected_errors = 2  # the browser logs each failed request (404, 422)
    open_view(page, server, f"#/latent/{ckpt}/999999")
    alert = page.inner_text("[role=alert]")
    assert "404" in alert and "nothing is stored" in alert
    open_view(page, server, "#/compare?c=ffffffff&c=eeeeeeee")
    assert "422" in page.inner_text("[role=alert]")
    open_view(page, server, "#/no-such-view")
    assert "no such page" in page.inner_text("[role=alert]")
