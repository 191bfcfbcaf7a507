"""Attacks on the local stack as ``make up`` starts it: every state-changing endpoint, Redis, body sizes.

The stack is the real one (``stack.localstack.up`` on free ports in a temporary folder: Redis
with its generated password, the environment and decision services under uvicorn, the dashboard
under gunicorn), minus Airflow and MLflow, which are not ours to guard here. Each attack is
tried once (module fixture ``answers``); the tests then check what answered, that nothing the
attacks touched changed, and that the table in ``docs/security.md`` ("## Local stack") is the
one these answers render — so the document cannot drift from the code.
"""

from __future__ import annotations

import base64
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from banditops.store import BanditStore, ExperimentConfig
from stack import localstack
from stack.redis_server import free_port

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "security.md"
EVIL = "http://evil.example"
COMPONENTS = ("redis", "environment", "decision", "dashboard")


@dataclass(frozen=True)
class Row:
    """One attack: where, what was tried, what answered (status and the message's gist)."""

    target: str
    tried: str
    status: int | str
    detail: str = ""

    def answered(self) -> str:
        if isinstance(self.status, int):
            return f"{self.status} {HTTPStatus(self.status).phrase}"
        return self.status


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localstack.StackConfig]:
    root = tmp_path_factory.mktemp("stack")
    cfg = localstack.StackConfig(root=root, ports={n: free_port() for n in localstack.DEFAULT_PORTS},
                                 components=COMPONENTS)
    try:
        localstack.up(cfg, log=lambda _m: None)
        BanditStore.from_url(localstack.redis_url(cfg)).reset(ExperimentConfig(name="seed", n_arms=5))
        yield cfg
    finally:
        localstack.down(cfg, log=lambda _m: None)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _drift_callback(arm: int, value: float) -> dict[str, Any]:
    """The body the page's "Inject drift" button posts to ``/_dash-update-component``."""
    inputs = ["drift-button", "add-button", "reset-button", "start-button", "relearn-button"]
    states = {"drift-arm": arm, "drift-value": value, "add-value": 5.0, "add-name": None, "reset-scenario": "seed",
              "reset-seed": None, "exp-scenario": "seed", "exp-seed": None}
    return {
        "output": "..action-result.children...action-result.className..",
        "outputs": [{"id": "action-result", "property": "children"},
                    {"id": "action-result", "property": "className"}],
        "inputs": [{"id": i, "property": "n_clicks", "value": 1 if i == "drift-button" else 0} for i in inputs],
        "changedPropIds": ["drift-button.n_clicks"],
        "state": [{"id": k, "property": "value", "value": v} for k, v in states.items()],
    }


#: The state-changing endpoints: (service, method, path, JSON body).
ENV_ADMIN = [("POST", "/update_arm/1", {"mean": 0.0}), ("PATCH", "/arms/1", {"sd": 2.0}),
             ("POST", "/arms", {"kind": "gaussian", "mean": 1.0}), ("POST", "/scenario", {"name": "banners"})]
DECISION_ADMIN = [("POST", "/arms", None), ("POST", "/arms/1/retire", None)]


def _snapshot(cfg: localstack.StackConfig) -> dict[str, Any]:
    env = httpx.get(f"{cfg.url('environment')}/arms", timeout=5).json()
    events = httpx.get(f"{cfg.url('environment')}/events", timeout=5).json()
    state = BanditStore.from_url(localstack.redis_url(cfg)).state()
    return {"truth": env["means"], "sds": env.get("arms"), "events": events, "n_arms": state.stats.n_arms,
            "retired": sorted(state.retired)}


def _api_attacks(base: str, service: str, endpoints: list[tuple[str, str, Any]], variable: str) -> list[Row]:
    rows = []
    with httpx.Client(base_url=base, timeout=10) as c:
        for method, path, body in endpoints:
            target = f"{service} `{method} {path}`"
            tries: dict[str, dict[str, str]] = {
                "no credentials": {},
                "wrong token": {"Authorization": "Bearer wrong-token"},
                "the token as Basic": {"Authorization": "Basic d3Jvbmc6dG9rZW4="},
                f"cross-site simple request (`Origin: {EVIL}`, `text/plain`, no token)": {
                    "Origin": EVIL, "Content-Type": "text/plain"},
                "spoofed `Host: evil.example` (DNS rebinding), no token": {"Host": "evil.example"},
            }
            for tried, headers in tries.items():
                content = b"{}" if "text/plain" in headers.get("Content-Type", "") else None
                r = c.request(method, path, json=body if content is None else None, content=content, headers=headers)
                detail = r.json().get("detail", "")
                assert variable in str(detail), (target, tried, detail)
                rows.append(Row(target, tried, r.status_code, str(detail)))
            pre = c.options(path, headers={"Origin": EVIL, "Access-Control-Request-Method": method,
                                           "Access-Control-Request-Headers": "authorization"})
            allowed = pre.headers.get("access-control-allow-origin")
            rows.append(Row(target, f"CORS preflight from `{EVIL}` asking to send `Authorization`",
                            f"{pre.status_code} {HTTPStatus(pre.status_code).phrase}, "
                            f"{'no' if allowed is None else repr(allowed)} `Access-Control-Allow-Origin`"))
    return rows


def _dashboard_attacks(cfg: localstack.StackConfig) -> list[Row]:
    base = cfg.url("dashboard")
    login = _basic("admin", localstack._secrets(cfg)["dashboard_password"])
    target = "dashboard `POST /_dash-update-component` (Inject drift)"
    body = _drift_callback(1, 42.0)
    tries: dict[str, dict[str, str]] = {
        "no credentials": {},
        "wrong password": {"Authorization": _basic("admin", "wrong")},
        f"cross-site with the login (`Origin: {EVIL}`)": {"Authorization": login, "Origin": EVIL},
        f"cross-site with the login (`Referer: {EVIL}/`, no Origin)": {"Authorization": login, "Referer": EVIL + "/"},
        "spoofed `Host: evil.example` with the login": {"Authorization": login, "Host": "evil.example"},
        "DNS rebinding (`Host` and `Origin` evil.example on the stack's port) with the login": {
            "Authorization": login, "Host": f"evil.example:{cfg.ports['dashboard']}",
            "Origin": f"http://evil.example:{cfg.ports['dashboard']}"},
    }
    rows = []
    with httpx.Client(base_url=base, timeout=30) as c:
        for tried, headers in tries.items():
            r = c.post("/_dash-update-component", json=body, headers=headers)
            rows.append(Row(target, tried, r.status_code, r.text))
        page = c.get("/", headers={"Host": "evil.example"})
        rows.append(Row("dashboard `GET /`", "spoofed `Host: evil.example`", page.status_code, page.text))
        page = c.get("/")
        rows.append(Row("dashboard `GET /`", "no credentials", page.status_code, page.text))
    return rows


def _body_attacks(cfg: localstack.StackConfig) -> list[Row]:
    rows = []
    huge = b'{"arms": [' + b"0, " * 700_000 + b"0]}"  # ~2.1 MB, over the environment's 1.2 MB cap
    env = cfg.url("environment")
    r = httpx.post(f"{env}/pulls", content=huge, headers={"Content-Type": "application/json"}, timeout=30)
    rows.append(Row("environment `POST /pulls`", f"{len(huge):,}-byte body (declared length)", r.status_code,
                    r.json()["detail"]))
    r = httpx.post(f"{env}/pulls", content=iter([huge[i:i + 65536] for i in range(0, len(huge), 65536)]), timeout=30)
    rows.append(Row("environment `POST /pulls`", f"{len(huge):,}-byte body, chunked (no length)", r.status_code,
                    r.json()["detail"]))
    big = b'{"user_id": "' + b"u" * 20_000 + b'", "k": 1}'
    dec = cfg.url("decision")
    r = httpx.post(f"{dec}/recommend", content=big, headers={"Content-Type": "application/json"}, timeout=30)
    rows.append(Row("decision `POST /recommend`", f"{len(big):,}-byte body", r.status_code, r.json()["detail"]))
    r = httpx.post(f"{dec}/recommend", content=iter([big[:10_000], big[10_000:]]), timeout=30)
    rows.append(Row("decision `POST /recommend`", f"{len(big):,}-byte body, chunked", r.status_code,
                    r.json()["detail"]))
    login = _basic("admin", localstack._secrets(cfg)["dashboard_password"])
    r = httpx.post(f"{cfg.url('dashboard')}/_dash-update-component", content=huge, timeout=30,
                   headers={"Authorization": login, "Content-Type": "application/json"})
    rows.append(Row("dashboard `POST /_dash-update-component`", f"{len(huge):,}-byte body with the login",
                    r.status_code, r.text))
    return rows


def _data_plane(cfg: localstack.StackConfig) -> list[Row]:
    """The public calls, open by design (see docs/security.md): what they answer a stranger."""
    pulls = httpx.post(f"{cfg.url('environment')}/pulls", json={"arms": [0]}, timeout=10,
                       headers={"Origin": EVIL})
    guessed = httpx.post(f"{cfg.url('decision')}/feedback", json={"decision_id": "0" * 32, "reward": 1.0},
                         headers={"Origin": EVIL}, timeout=10)
    return [Row("environment `POST /pulls` (agents' data plane)", f"no credentials, `Origin: {EVIL}`",
                pulls.status_code, pulls.text),
            Row("decision `POST /feedback` (public data plane)", "no credentials, a guessed `decision_id`",
                guessed.status_code, guessed.text)]


def _resp(port: int, *commands: list[str]) -> list[str]:
    """The server's first reply line to each command, sent raw as any client would (no handshake)."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, sock.makefile("rb") as reader:
        for command in commands:
            sock.sendall(f"*{len(command)}\r\n".encode()
                         + b"".join(f"${len(a)}\r\n{a}\r\n".encode() for a in command))
            replies.append(reader.readline().decode().strip())
    return replies


def _redis_attacks(cfg: localstack.StackConfig) -> list[Row]:
    rows = []
    tries = {
        "`PING` without the password": [["PING"]],
        "`GET bo:mode` without the password": [["GET", "bo:mode"]],
        "`CONFIG SET requirepass ''` without the password": [["CONFIG", "SET", "requirepass", ""]],
        "`AUTH` with a wrong password, then `PING`": [["AUTH", "wrong-password"], ["PING"]],
    }
    for tried, commands in tries.items():
        replies = _resp(cfg.ports["redis"], *commands)
        rows.append(Row("Redis", tried, " then ".join(r.split()[0].lstrip("-+") for r in replies), "; ".join(replies)))
    return rows


@pytest.fixture(scope="module")
def answers(stack: localstack.StackConfig) -> dict[str, Any]:
    before = _snapshot(stack)
    rows = (_api_attacks(stack.url("environment"), "environment", ENV_ADMIN, "BANDITOPS_ENV_ADMIN_TOKEN")
            + _api_attacks(stack.url("decision"), "decision", DECISION_ADMIN, "BANDITOPS_DECISION_ADMIN_TOKEN")
            + _dashboard_attacks(stack)
            + _body_attacks(stack) + _redis_attacks(stack))
    after = _snapshot(stack)
    return {"before": before, "after": after, "rows": rows + _data_plane(stack)}


def _expected(row: Row) -> int | str:
    if "(agents' data plane)" in row.target:
        return 200
    if "(public data plane)" in row.target:
        return 404  # the decision id is the capability: unknown ids change nothing
    if row.target == "Redis":
        return "WRONGPASS then NOAUTH" if "wrong password" in row.tried else "NOAUTH"
    if "byte body" in row.tried:
        return 413
    if row.tried.startswith("CORS preflight"):
        return row.status  # checked by test_no_cross_origin_reads_or_token_use
    if "Host" in row.tried and row.target.startswith("dashboard"):
        return 421
    if "cross-site" in row.tried and row.target.startswith("dashboard"):
        return 403
    return 401


def test_every_attack_is_refused(answers: dict[str, Any]) -> None:
    wrong = [(r.target, r.tried, r.status, _expected(r)) for r in answers["rows"] if r.status != _expected(r)]
    assert not wrong, wrong


def test_refusals_say_what_is_needed(answers: dict[str, Any]) -> None:
    for row in answers["rows"]:
        if row.status == 413:
            assert re.search(r"the limit is \d+ bytes \(BANDITOPS_\w+_MAX_BODY_BYTES\)", row.detail), row
        if row.status == 421:
            assert "BANDITOPS_DASHBOARD_ALLOWED_HOSTS" in row.detail, row
        if row.status == 401 and row.target.startswith("dashboard"):
            assert "BANDITOPS_DASHBOARD_USERNAME" in row.detail, row


def test_no_cross_origin_reads_or_token_use(answers: dict[str, Any]) -> None:
    """No ``Access-Control-Allow-Origin``: a browser never sends the admin token for another site's page."""
    preflights = [r for r in answers["rows"] if r.tried.startswith("CORS preflight")]
    assert len(preflights) == len(ENV_ADMIN) + len(DECISION_ADMIN)
    assert all("no `Access-Control-Allow-Origin`" in str(r.status) for r in preflights)


def test_nothing_the_attacks_touched_changed(answers: dict[str, Any]) -> None:
    assert answers["after"] == answers["before"]


def test_the_right_credentials_do_work(stack: localstack.StackConfig, answers: dict[str, Any]) -> None:
    """The refusals above are about the credentials: with them, each call changes what it should."""
    sec = localstack._secrets(stack)
    env = httpx.Client(base_url=stack.url("environment"), headers={"Authorization": f"Bearer {sec['env_admin_token']}"})
    assert env.post("/update_arm/1", json={"mean": 0.25}).status_code == 200
    assert env.get("/arms").json()["means"][1] == 0.25
    dec = httpx.Client(base_url=stack.url("decision"),
                       headers={"Authorization": f"Bearer {sec['decision_admin_token']}"})
    # The token is right, but the decision API's Redis user may not change arms (least privilege, as
    # deployed): a 403 that says so, and nothing retired. Arms change through Airflow (bandit_add_arm).
    retire = dec.post("/arms/4/retire")
    assert retire.status_code == 403 and "Redis user" in retire.json()["detail"], retire.text
    assert BanditStore.from_url(localstack.redis_url(stack)).state().retired == frozenset()
    own = stack.url("dashboard")
    drift = httpx.post(f"{own}/_dash-update-component", json=_drift_callback(2, 7.5), timeout=30,
                       headers={"Authorization": _basic("admin", sec["dashboard_password"]), "Origin": own})
    assert drift.status_code == 200, drift.text
    assert env.get("/arms").json()["means"][2] == 7.5  # the page's own drift reached the world
    assert redis.Redis.from_url(localstack.redis_url(stack)).ping()
    assert all(row["healthy"] for row in localstack.status(stack).values())  # `make status` authenticates
    env.close()
    dec.close()


def test_services_without_a_token_refuse_admin_calls(redis_server: Any) -> None:
    """Fail closed: a service started with no admin token refuses its admin routes (403), any token sent."""
    from stack.decision_server import DecisionServer
    from stack.env_server import EnvServer

    with EnvServer(admin_token=None) as env, DecisionServer(redis_server.url, admin_token=None) as dec:
        for base, (method, path, body), variable in (
            [(env.url, e, "BANDITOPS_ENV_ADMIN_TOKEN") for e in ENV_ADMIN]
            + [(dec.url, d, "BANDITOPS_DECISION_ADMIN_TOKEN") for d in DECISION_ADMIN]
        ):
            for headers in ({}, {"Authorization": "Bearer anything"}):
                r = httpx.request(method, base + path, json=body, headers=headers, timeout=10)
                assert r.status_code == 403, (path, r.text)
                assert "admin calls are off" in r.json()["detail"] and variable in r.json()["detail"]


def render(rows: list[Row]) -> str:
    lines = ["| target | what was tried | what answered |", "|---|---|---|"]
    lines += [f"| {r.target} | {r.tried} | {r.answered()} |" for r in rows]
    return "\n".join(lines)


def test_docs_table_is_what_answered(answers: dict[str, Any], tmp_path: Path) -> None:
    table = render(answers["rows"])
    text = DOC.read_text() if DOC.exists() else ""
    section = text.split("## Local stack", 1)[1].split("\n## ", 1)[0] if "## Local stack" in text else ""
    if table not in section:
        (tmp_path / "local-stack-table.md").write_text(table + "\n")
    assert table in section, f"docs/security.md '## Local stack' is out of date; it should hold:\n{table}"
