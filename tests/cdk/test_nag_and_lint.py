"""cdk-nag AwsSolutions finds nothing unacknowledged; cfn-lint passes every synthesized template."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests import services
from tests.cdk.conftest import Synth

pytestmark = pytest.mark.cdk

# W3005 (DependsOn already implied by a Ref) is emitted by CDK itself for its custom-resource provider
# and ECS service/listener ordering; it is a style warning about redundancy, not a defect.
CFN_LINT_IGNORED = ("W3005",)


def acknowledgements(synth: Synth) -> dict[str, dict[str, str]]:
    """Construct path -> {rule: reason} of every Validations.of(...).acknowledge in the stack."""
    found: dict[str, dict[str, str]] = {}
    for construct in synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == "aws:cdk:acknowledged-rules":
                found.setdefault(construct.node.path, {}).update(entry.data)
    return found


def test_cdk_nag_reports_no_unacknowledged_finding(any_synth: Synth) -> None:
    """Synthesis ran the AwsSolutions pack (it fails on any finding) and its report is empty."""
    report = json.loads((any_synth.assembly_dir / "validation-report.json").read_text())
    assert all(r["conclusion"] == "success" for r in report["pluginReports"]), json.dumps(report)[:2000]
    nag = [
        v
        for r in report["pluginReports"]
        for v in r["violations"]
        if v["ruleName"].startswith("AwsSolutions")
    ]
    assert nag == []


def test_every_acknowledgement_has_a_reason(any_synth: Synth) -> None:
    """Each AwsSolutions acknowledgement carries a reason a reviewer can check (a full sentence)."""
    nag = {
        (path, rule): reason
        for path, rules in acknowledgements(any_synth).items()
        for rule, reason in rules.items()
        if "AwsSolutions" in rule
    }
    assert nag, "the stack has deliberate, acknowledged findings"
    for (path, rule), reason in nag.items():
        assert len(reason) >= 60 and reason.rstrip().endswith("."), (path, rule, reason)


def test_acknowledgements_are_on_constructs_not_the_whole_stack(default_synth: Synth) -> None:
    """No AwsSolutions rule is acknowledged stack-wide, so new resources are still checked."""
    stack_level = acknowledgements(default_synth).get(default_synth.stack.node.path, {})
    assert not [rule for rule in stack_level if "AwsSolutions" in rule]


def test_cfn_lint_passes_every_template(any_synth: Synth) -> None:
    """cfn-lint reports no error or warning (only CDK's own redundant-DependsOn warning is ignored)."""
    cfn_lint = shutil.which("cfn-lint")
    if cfn_lint is None:
        services.unavailable("cfn-lint is not installed (pip install -e '.[test]')")
    template = any_synth.assembly_dir / f"{any_synth.artifact_id}.template.json"
    result = subprocess.run(
        [cfn_lint, "--ignore-checks", *CFN_LINT_IGNORED, "--", str(template)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
