"""CDK entry point (``cdk.json``: ``python -m cdk.app``): builds the app from context and synthesizes it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from cdk.nag import acknowledge_findings
from cdk.settings import settings_from_context
from cdk.stack import WindsockStack

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    """The context of ``cdk.json`` (feature flags), for apps built outside the CDK CLI."""
    return dict(json.loads(CDK_JSON.read_text())["context"])


def build_app(
    context: Mapping[str, Any] | None = None, *, outdir: str | None = None
) -> tuple[App, WindsockStack]:
    """The app with one environment stack and the cdk-nag AwsSolutions checks registered."""
    app = App(context=dict(context) if context is not None else None, outdir=outdir)
    settings = settings_from_context(app.node.try_get_context)
    stack = WindsockStack(app, "Windsock", settings=settings)
    acknowledge_findings(stack)
    if str(app.node.try_get_context("nag") or "true").lower() != "false":
        Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def main() -> None:
    """Synthesize into the CLI's output directory (or CDK_OUTDIR); cdk.json's flags apply either way."""
    app, _ = build_app(cdk_json_context())  # context given by the CLI (-c, cdk.json) takes precedence
    app.synth()


if __name__ == "__main__":
    main()
