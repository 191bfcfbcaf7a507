"""The dashboard in a real headless Chromium, against a real Redis and a real environment service.

The tests run in order on one page (module-scoped servers): the store's data is drawn; a drift
injected from the page changes the environment's truth and appears on the timeline; stopping
the environment brings up the "Environment unreachable" banner while the store's data stays.
Screenshots of each state are kept in ``var/screenshots/``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest

from banditops.clients.env_client import EnvClient
from banditops.store import BanditStore, Mode
from stack.env_server import EnvServer

from .conftest import SCREENSHOTS, Dashboard, learn

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # the DOM is replaced on every refresh: retry on stale elements
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


def graph_data(driver: Any, graph_id: str) -> list[dict[str, Any]]:
    """The plotly traces the browser is drawing in ``graph_id`` (read from the rendered DOM node)."""
    raw = driver.execute_script(
        "const el = document.querySelector(arguments[0] + ' .js-plotly-plot');"
        "const plain = (k, v) => ArrayBuffer.isView(v) ? Array.from(v)"
        "  : (v && v.bdata && v._inputArray) ? Array.from(v._inputArray) : v;"  # plotly typed-array specs
        "return el && el.data ? JSON.stringify(el.data, plain) : null;",
        f"#{graph_id}",
    )
    return json.loads(raw) if raw else []


def text_of(driver: Any, css: str) -> str:
    return str(
        driver.execute_script("const el = document.querySelector(arguments[0]); return el ? el.innerText : '';", css)
    )


def shoot(driver: Any, name: str) -> None:
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_graphs_render_the_store_data(
    browser: Any, dashboard: Dashboard, store: BanditStore, env_server: EnvServer
) -> None:
    browser.get(dashboard.url)
    state = store.state()

    def posterior_ready() -> list[dict[str, Any]] | None:
        traces = graph_data(browser, "graph-posterior")
        return traces if any(t.get("type") == "violin" for t in traces) else None

    traces = wait_for(posterior_ready, timeout=60)
    violins = [t for t in traces if t["type"] == "violin"]
    assert [t["name"] for t in violins] == [f"arm {a}" for a in range(5)]
    truth = EnvClient(env_server.url, token=env_server.admin_token).truth()
    true_marks = next(t for t in traces if t.get("name") == "true mean")
    assert true_marks["y"] == pytest.approx(truth["means"])
    ci = next(t for t in traces if t.get("name", "").endswith("credible interval"))
    expected_means = np.asarray(
        __import__("banditops.bandit.posteriors", fromlist=["make_posterior"])
        .make_posterior("gaussian", state.stats, state.config.prior or None)
        .mean()
    )
    assert ci["y"] == pytest.approx(expected_means.tolist(), rel=1e-9)

    pulls = wait_for(lambda: graph_data(browser, "graph-pulls") or None)
    assert pulls[0]["y"] == state.stats.n.tolist()
    assert sum(pulls[0]["y"]) == state.total_pulls == 1200

    regret = wait_for(lambda: graph_data(browser, "graph-regret") or None)
    cumulative = next(t for t in regret if t["name"] == "cumulative regret")
    assert cumulative["y"][-1] == pytest.approx(state.regret, rel=1e-6)  # the store records each batch's regret
    assert any(t["name"] == "Lai–Robbins C·ln T" for t in regret)

    prob = wait_for(lambda: graph_data(browser, "graph-prob-best") or None)
    assert [t["name"] for t in prob] == [f"arm {a}" for a in range(5)]
    assert prob[1]["y"][-1] > 0.9  # the seed scenario's best arm (mean 4.0) leads after 1,200 pulls

    status = wait_for(lambda: text_of(browser, "#status") if "MONITORING" in text_of(browser, "#status") else None)
    assert "1,200" in status
    assert "arm 1" in status
    timeline = graph_data(browser, "graph-timeline")
    names = {t.get("name") for t in timeline}
    assert {"experiment started", "converged", "MONITORING", "LEARNING"} <= names
    assert text_of(browser, "#banner").strip() == ""  # every configured source reachable: no banner
    shoot(browser, "01-store-data")


def test_inject_drift_changes_the_truth_and_the_timeline_shows_it(
    browser: Any, dashboard: Dashboard, env_server: EnvServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    env = EnvClient(env_server.url, token=env_server.admin_token)
    assert env.truth()["means"][1] == 4.0
    wait_for(lambda: browser.find_element(By.ID, "drift-button").is_displayed())
    # The origin documents' drift: arm 1 now pays 0.0 (choose arm 1 in the dropdown, type the mean).
    browser.find_element(By.ID, "drift-arm").click()
    option = wait_for(lambda: browser.find_element(By.XPATH, "//*[@role='option'][normalize-space()='arm 1']"))
    option.click()
    wait_for(lambda: "arm 1" in text_of(browser, "#drift-arm"))
    value = browser.find_element(By.ID, "drift-value")
    value.send_keys(Keys.CONTROL, "a")
    value.send_keys("0")
    browser.find_element(By.ID, "drift-button").click()

    result = wait_for(lambda: text_of(browser, "#action-result") or None)
    assert "drift injected: arm 1 mean 4 → 0" in result
    truth = env.truth()
    assert truth["means"][1] == 0.0  # the ground truth changed through the environment's API
    assert truth["best_arm"] == 3
    assert [e["kind"] for e in env.events()][-1] == "drift"

    def drift_on_timeline() -> list[str] | None:
        traces = graph_data(browser, "graph-timeline")
        labels = [label for t in traces if t.get("name") == "drift injected" for label in t.get("text", [])]
        return labels or None

    assert wait_for(drift_on_timeline) == ["drift injected: arm 1 4→0"]
    posterior = graph_data(browser, "graph-posterior")
    assert next(t for t in posterior if t.get("name") == "true mean")["y"][1] == 0.0
    status = wait_for(
        lambda: (
            text_of(browser, "#status")
            if "TRUE BEST\narm 3" in text_of(browser, "#status").upper().replace("ARM", "arm")
            else None
        )
    )
    assert "arm 3" in status
    shoot(browser, "02-drift-injected")


def test_bad_control_input_is_refused_with_a_clear_message(
    browser: Any, dashboard: Dashboard, env_server: EnvServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    before = EnvClient(env_server.url, token=env_server.admin_token).truth()
    value = browser.find_element(By.ID, "add-value")
    value.send_keys(Keys.CONTROL, "a")
    value.send_keys(Keys.DELETE)
    browser.find_element(By.ID, "add-button").click()
    result = wait_for(
        lambda: text_of(browser, "#action-result") if "finite number" in text_of(browser, "#action-result") else None
    )
    assert "mean must be a finite number for a gaussian arm; got " in result
    assert EnvClient(env_server.url, token=env_server.admin_token).truth() == before  # nothing was sent


def test_a_drift_then_relearning_is_drawn_as_a_second_phase(
    browser: Any, dashboard: Dashboard, env_server: EnvServer, store: BanditStore
) -> None:
    """What the loop does after the drift injected above: the detector's epoch, forced exploration, relearning."""
    env = EnvClient(env_server.url, token=env_server.admin_token)
    learn(store, env, rounds=3, tag="monitoring")  # still exploiting arm 1, which now pays 0
    store.open_epoch(reason="drift_detected", explore_budget=100, arm=1, magnitude=-4.0, delay=212)
    learn(store, env, rounds=8, tag="relearning", seed=5)
    store.set_mode(Mode.MONITORING, reason="converged", leader=3, prob_best=0.98)
    state = store.state()
    assert state.epoch == 2

    def two_phases() -> list[dict[str, Any]] | None:
        traces = graph_data(browser, "graph-phase-regret")
        return traces if traces and list(traces[0]["x"]) == ["epoch 1", "epoch 2"] else None

    phases = wait_for(two_phases)
    assert sum(phases[0]["y"]) == pytest.approx(state.regret, rel=1e-6)
    timeline = graph_data(browser, "graph-timeline")
    lifecycle = [label for t in timeline if t.get("name") == "epoch opened" for label in t["text"]]
    assert lifecycle == ["drift detected: arm 1 Δ=-4.00 delay 212 pulls → epoch 2"]
    assert "RELEARNING" in {t.get("name") for t in timeline}
    prob = graph_data(browser, "graph-prob-best")
    assert prob[3]["y"][-1] > 0.9  # after relearning the new best arm (mean 3.0) leads
    status = wait_for(lambda: text_of(browser, "#status") if "EPOCH\n2" in text_of(browser, "#status") else None)
    assert "arm 3" in status
    time.sleep(1.5)  # let the last refresh finish drawing before the picture is taken
    shoot(browser, "03-relearned")  # the README's docs/img/dashboard.png is a copy of this one


#: Bounding boxes of the texts drawn in the timeline's plot area (bar captions, any marker text),
#: and of its title and legend, as the browser lays them out. Hidden texts (``uniformtext`` hides
#: a caption that does not fit its band) have no box.
_TIMELINE_BOXES = """
const root = document.querySelector('#graph-timeline .js-plotly-plot');
const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
const shown = (el) => { const s = getComputedStyle(el); const r = el.getBoundingClientRect();
  return s.display !== 'none' && s.visibility !== 'hidden' && parseFloat(s.opacity || '1') > 0
    && r.width > 0 && r.height > 0 && (el.textContent || '').trim() !== ''; };
const texts = Array.from(root.querySelectorAll('.cartesianlayer .plot text')).filter(shown);
return JSON.stringify({
  texts: texts.map((el) => ({text: el.textContent, box: box(el)})),
  title: box(root.querySelector('.gtitle')),
  legend: box(root.querySelector('.legend')),
});
"""


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_timeline_stays_legible_with_many_events_close_in_time(
    browser: Any, dashboard: Dashboard, store: BanditStore
) -> None:
    """The old timeline printed every label next to its marker: events seconds apart drew over each
    other. Now the labels are hover text, so 40 events within a second leave nothing to collide."""
    for i in range(40):
        store.append_event("drift_detected", arm=i % 5, magnitude=-0.5 - i / 10, delay=100 + i)
    browser.get(dashboard.url)  # a fresh page load: the test does not depend on the page the others left

    def many_marks() -> list[dict[str, Any]] | None:
        traces = graph_data(browser, "graph-timeline")
        drift = [t for t in traces if t.get("name") == "drift detected"]
        return traces if drift and len(drift[0]["x"]) >= 40 else None

    traces = wait_for(many_marks, timeout=60)
    time.sleep(1.5)  # the figure is drawn after its data lands
    events = [t for t in traces if t.get("type") == "scatter"]
    assert events and all(t["mode"] == "markers" for t in events)  # no label is printed on the plot
    for trace in events:  # ... each one is the first line of its marker's hover text
        assert len(trace["hovertext"]) == len(trace["text"]) == len(trace["x"])
        assert all(h.startswith(f"<b>{label}</b>") for h, label in zip(trace["hovertext"], trace["text"], strict=True))
    drift = next(t for t in events if t["name"] == "drift detected")
    assert "drift detected: arm 4 Δ=-4.40 delay 139 pulls" in drift["text"]
    boxes = json.loads(browser.execute_script(_TIMELINE_BOXES))
    texts = boxes["texts"]
    clashes = [(a["text"], b["text"]) for i, a in enumerate(texts) for b in texts[i + 1:]
               if _overlap(a["box"], b["box"])]
    assert clashes == []
    assert not _overlap(boxes["title"], boxes["legend"])  # the legend sits below the plot, clear of the title
    shoot(browser, "04-many-events")


def test_an_arm_added_by_name_is_shown_by_name_and_its_name_never_returns(
    browser: Any, dashboard: Dashboard, store: BanditStore, env_server: EnvServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def fill(element_id: str, text: str) -> None:
        field = browser.find_element(By.ID, element_id)
        field.send_keys(Keys.CONTROL, "a")
        field.send_keys(Keys.DELETE)
        field.send_keys(text)

    def result_with(text: str) -> str:
        return str(wait_for(
            lambda: text_of(browser, "#action-result") if text in text_of(browser, "#action-result") else None
        ))

    fill("add-name", "summer-sale")
    fill("add-value", "2.5")
    browser.find_element(By.ID, "add-button").click()
    # The dashboard only reads Redis: it adds the arm to the environment and asks Airflow's
    # bandit_add_arm DAG to add it to the store by name. No Airflow here: the page says which run
    # to trigger, and the test does what that run does (tests/airflow/test_dags.py runs the DAG).
    message = result_with("summer-sale added")
    assert ("summer-sale added to the environment (mean 2.5), but Airflow is not configured" in message
            and '{"n_arms": 6, "name": "summer-sale"}' in message), message
    assert EnvClient(env_server.url, token=env_server.admin_token).truth()["means"][5] == 2.5
    assert store.arms().names == ("0", "1", "2", "3", "4")
    store.add_arm("summer-sale")
    assert store.arms().names == ("0", "1", "2", "3", "4", "summer-sale")

    def violins() -> list[str] | None:
        names = [t["name"] for t in graph_data(browser, "graph-posterior") if t.get("type") == "violin"]
        return names if len(names) == 6 else None

    assert wait_for(violins) == [*(f"arm {a}" for a in range(5)), "summer-sale"]
    assert list(graph_data(browser, "graph-pulls")[0]["x"])[-1] == "summer-sale"
    timeline = graph_data(browser, "graph-timeline")
    added = [label for t in timeline if t.get("name") == "arm added" for label in t["text"]]
    assert sorted(added) == ["added: summer-sale", "summer-sale added"]  # the store's event and the world's

    before = EnvClient(env_server.url, token=env_server.admin_token).truth()
    browser.find_element(By.ID, "add-button").click()  # the same name again: refused, nothing sent
    assert "the name 'summer-sale' is already taken" in result_with("already taken")
    store.retire_arm("summer-sale")
    fill("add-value", "3")
    browser.find_element(By.ID, "add-button").click()
    assert "'summer-sale' is retired and cannot come back" in result_with("cannot come back")
    fill("add-name", "bad name")
    browser.find_element(By.ID, "add-button").click()
    assert "invalid arm name 'bad name'" in result_with("invalid arm name")
    assert EnvClient(env_server.url, token=env_server.admin_token).truth() == before
    assert store.arms().names == ("0", "1", "2", "3", "4", "summer-sale")
    shoot(browser, "05-named-arm")


def test_banner_names_the_stopped_environment_and_the_store_data_stays(
    browser: Any, dashboard: Dashboard, env_server: EnvServer, store: BanditStore
) -> None:
    env_server.stop()
    banner = wait_for(lambda: text_of(browser, "#banner") if "Environment" in text_of(browser, "#banner") else None)
    assert "Environment unreachable" in banner or "Environment event log could not be read" in banner, banner
    assert "connection refused" in banner
    assert "Traceback" not in browser.page_source
    # The store's data is still drawn: violins per arm and the pull counts, from Redis alone.
    time.sleep(1.5)  # at least one full refresh with the environment down
    posterior = graph_data(browser, "graph-posterior")
    assert [t["name"] for t in posterior if t["type"] == "violin"] == [*(f"arm {a}" for a in range(5)), "summer-sale"]
    assert not any(t.get("name") == "true mean" for t in posterior)  # the truth is unknown now
    assert graph_data(browser, "graph-pulls")[0]["y"] == store.state().stats.n.tolist()
    assert "MONITORING" in text_of(browser, "#status")
    shoot(browser, "06-environment-unreachable")
    assert httpx.get(f"{dashboard.url}/healthz").json() == {"status": "ok"}


def test_the_evaluation_panel_shows_the_last_evaluation_and_the_gate_decision(
    browser: Any, dashboard: Dashboard, store: BanditStore
) -> None:
    """What ``bandit_policy_evaluation``'s gate task records (apply_gate) is what the panel shows."""
    from banditops.loop.evaluation import EvaluationRequest, apply_gate
    from banditops.loop.promotion import gate

    def policy(estimate: float, lo: float, hi: float) -> dict[str, Any]:
        return {"config": {}, "estimators": {"dros": {"estimate": estimate, "lo": lo, "hi": hi}}}

    report = {"n_rows": 1500, "policies": {"live": policy(0.24, 0.21, 0.27), "always_7": policy(0.69, 0.66, 0.72)}}
    request = EvaluationRequest({"always_7": {"policy": "static", "ranking": [7]}}, ["dros"], margin=0.05)
    decision = gate(report, "always_7", margin=0.05)
    apply_gate(store, request, {"report": report, "best": decision})  # promote not asked: the live policy stays
    browser.get(dashboard.url)
    panel = wait_for(lambda: text_of(browser, "#evaluation-panel") if "always_7" in
                     text_of(browser, "#evaluation-panel") else None)  # fmt: skip
    assert "0.690 [0.660, 0.720]" in panel and "0.240 [0.210, 0.270]" in panel
    assert "kept the live policy" in panel and "passed but promotion not asked" in panel
    assert "1500 logged decisions" in panel
    shoot(browser, "06-evaluation-panel")
