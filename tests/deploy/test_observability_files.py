"""The Grafana dashboard and the Prometheus alert rules in deploy/observability speak of the
series the services really export (a renamed metric breaks this, not the operator's night)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OBS = ROOT / "deploy/observability"
NAME = re.compile(r"\b(flowtrux_[a-z_]+)")
SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def _exported() -> set[str]:
    """Every `flowtrux_*` metric name declared in the code (Counter names get `_total`)."""
    names: set[str] = set()
    for path in [*ROOT.glob("shared/shared/*.py"), *ROOT.glob("services/*/*/**/*.py")]:
        text = path.read_text()
        for match in re.finditer(r'(?:Counter|Gauge|Histogram)\(\s*"(flowtrux_[a-z_]+)"', text):
            names.add(match.group(1))
    return names


def _base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_alert_rules_cover_what_the_issue_names_and_use_real_series() -> None:
    rules = yaml.safe_load((OBS / "alerts.yml").read_text())["groups"][0]["rules"]
    by_name = {r["alert"]: r for r in rules}
    assert {
        "FlowtruxHighErrorRate",
        "FlowtruxConsumerLagHigh",
        "FlowtruxDeadLetters",
        "FlowtruxKeyUnavailable",
    } <= set(by_name)
    exported = _exported()
    for rule in rules:
        for used in NAME.findall(rule["expr"]):
            assert _base(used) in exported, (rule["alert"], used)
        assert rule["annotations"]["summary"]


def test_dashboard_panels_query_real_series() -> None:
    dashboard = json.loads((OBS / "grafana-dashboard.json").read_text())
    exported = _exported()
    seen = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for used in NAME.findall(target["expr"]):
                assert _base(used) in exported, (panel["title"], used)
                seen.add(_base(used))
    # Every exported series is on the dashboard somewhere.
    assert exported - seen == set(), exported - seen
