"""The short chaos suite (`make test`): the real stack on its own Kafka and FerretDB
(127.0.0.1:19100-19199, deploy/local/chaos.py) while our own infrastructure fails.

Scenario A (single broker): a runner SIGKILLed, keyvault SIGKILLed, FerretDB restarted, the
broker restarted, once each. Scenario B (3-node KRaft cluster, RF 3, min.insync.replicas 2):
the broker leading the request partitions SIGKILLed mid-stream and brought back.

Correctness only, no timing: every execution gets a result (0 lost), and no failure the user
sees is caused by our infrastructure (0 wrongly failed). The executions whose key the provider
refuses must fail with the provider's code, which proves the harness tells the two apart.
`make chaos` runs the long version (10,000 executions per scenario, bench/chaos-report.md).
"""

from __future__ import annotations

import pytest

from deploy.local.chaos import Config, Report, render, run_scenario

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def _check(report: Report) -> None:
    print("\n".join(render([report])))
    assert report.requested == report.config.executions
    assert report.lost == 0, f"{report.lost} executions got no result"
    assert report.wrongly_failed == 0, (
        f"{report.wrongly_failed} executions failed because of our infrastructure: "
        f"{report.wrongly_failed_codes}"
    )
    # The control group (a key the provider refuses) fails with the provider's own code.
    assert report.provider_failed == report.control_expected


@pytest.mark.timeout(330)
async def test_scenario_a_one_fault_of_each_kind_loses_nothing_and_fails_nothing() -> None:
    _check(await run_scenario(Config("A", 700, 25.0, short=True, drain_timeout_s=120)))


@pytest.mark.timeout(330)
async def test_scenario_b_leader_kill_on_a_3_broker_cluster_loses_nothing() -> None:
    _check(await run_scenario(Config("B", 300, 20.0, short=True, drain_timeout_s=120)))
