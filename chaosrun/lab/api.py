"""The lab's own calls to its Prometheus and Alertmanager (waits, health checks, reloads,
`lab status`, tests): HTTPS verified against the lab's CA, with the lab's credentials,
through the same session code experiments use (chaosrun.probes.session)."""

from __future__ import annotations

from typing import Any

from chaosrun.lab import webauth
from chaosrun.lab.state import LabPaths
from chaosrun.lab.topology import LabConfig
from chaosrun.model.apiaccess import ApiAccess
from chaosrun.probes.session import open_session


def prometheus(lab: LabConfig) -> ApiAccess:
    return webauth.access(LabPaths.of(lab), lab.prometheus_url)


def alertmanager(lab: LabConfig) -> ApiAccess:
    return webauth.access(LabPaths.of(lab), lab.alertmanager_url)


def get_json(
    access: ApiAccess, path: str, params: dict[str, str] | None = None, timeout: float = 5
) -> Any:
    """GET a JSON document; raises (an OSError) on any failure, HTTP errors included."""
    with open_session(access) as session:
        resp = session.get(f"{access.url}{path}", params=params, timeout=timeout)
        resp.raise_for_status()
        return resp.json()


def post(access: ApiAccess, path: str, json: Any = None, timeout: float = 10) -> None:
    with open_session(access) as session:
        session.post(f"{access.url}{path}", json=json, timeout=timeout).raise_for_status()


def query(lab: LabConfig, expr: str, timeout: float = 5) -> list[dict[str, Any]]:
    """An instant query's result list (raises when Prometheus does not answer)."""
    data = get_json(prometheus(lab), "/api/v1/query", {"query": expr}, timeout)
    return data["data"]["result"]


def ready(access: ApiAccess) -> bool:
    try:
        with open_session(access) as session:
            return session.get(f"{access.url}/-/ready", timeout=2).status_code == 200
    except OSError:
        return False
