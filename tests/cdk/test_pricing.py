"""Idle cost priced from the synthesized templates, the issue's targets, and the README table's freshness."""

from __future__ import annotations

import copy

import pytest

from cdk import pricing
from cdk.cost_table import README, generate, readme_block
from tests.cdk.conftest import Synth

pytestmark = pytest.mark.cdk


def items(synth: Synth) -> dict[str, float]:
    """Item -> monthly USD of a variant."""
    return {line.item: line.monthly for line in pricing.price_template(synth.json)}


def test_default_idles_under_100_dollars_with_nat_gateway_and_alb(default_synth: Synth) -> None:
    """Default (NAT gateway, internet-facing ALB, private tasks): at most $100 a month idle."""
    found = items(default_synth)
    assert found["1 NAT gateway"] == pytest.approx(32.85)
    assert found["Application Load Balancer"] == pytest.approx(16.425)
    assert found["Scheduler 1 x 0.25 vCPU/1 GB"] == pytest.approx(10.63, abs=0.01)
    assert pricing.total(pricing.price_template(default_synth.json)) <= 100


def test_dev_idles_under_50_dollars(dev_synth: Synth) -> None:
    """dev (PUBLIC_SUBNETS + mw1.micro + scheduler_spot): at most $50; no NAT; one task with a public IP."""
    found = items(dev_synth)
    assert "1 NAT gateway" not in found and found["1 task public IPv4"] == pytest.approx(3.65)
    assert "Scheduler 1 x 0.25 vCPU/1 GB on Spot" in found
    assert pricing.total(pricing.price_template(dev_synth.json)) <= 50


def test_nat_instance_costs_a_fraction_of_a_nat_gateway(team_synth: Synth, default_synth: Synth) -> None:
    """NAT_INSTANCE: one t4g.nano with IPv4 and 8 GB gp3 (~$7.36) instead of the gateway ($36.50)."""
    network = pricing.by_category(pricing.price_template(team_synth.json))["network"]
    assert network == pytest.approx(7.36, abs=0.01)
    assert pricing.by_category(pricing.price_template(default_synth.json))["network"] == pytest.approx(36.50)


def test_interface_endpoints_are_priced_per_az(locked_down_synth: Synth) -> None:
    """VPC_ENDPOINTS: 8 interface endpoints in 2 AZs; Multi-AZ doubles the DB."""
    found = items(locked_down_synth)
    assert found["16 interface endpoint-AZs"] == pytest.approx(116.80)
    assert found["RDS db.t4g.medium x2"] == pytest.approx(2 * 0.065 * 730)


def test_an_unpriced_instance_class_is_an_error(default_synth: Synth) -> None:
    """A class missing from the price list fails loudly instead of being priced at zero."""
    template = copy.deepcopy(default_synth.json)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::RDS::DBInstance":
            resource["Properties"]["DBInstanceClass"] = "db.r7g.large"
    with pytest.raises(pricing.PricingError, match="db.r7g.large"):
        pricing.price_template(template)


def test_readme_cost_table_matches_the_synthesized_templates() -> None:
    """The README block is exactly what scripts/cost_table.py generates now (else run it with --write)."""
    assert readme_block(README.read_text()) == generate(), "run: python scripts/cost_table.py --write"
