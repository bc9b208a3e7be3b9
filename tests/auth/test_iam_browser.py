"""IAM sign-in in Chromium: the client's login URL (MWAA's /aws_mwaa/aws-console-sso form) signs a browser in
with the role the caller's policy grants; a Viewer cannot trigger; the link works once."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.client import Client
from tests.auth.conftest import ENV, IamCloud, IamWeb

pytestmark = pytest.mark.aws


def _page(browser: Any) -> Any:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.set_default_timeout(30_000)
    return page


def test_admin_lands_signed_in_as_admin_and_the_link_works_once(browser: Any, aws_at: IamCloud, iam_web: IamWeb) -> None:
    """alice's login URL opens the DAG list as Admin under her assumed-role ARN; the same URL later is refused."""
    url = Client(ENV, session=aws_at.session("alice")).web_login_url()
    assert "/aws_mwaa/aws-console-sso?login=true#" in url
    page = _page(browser)
    page.goto(url)
    page.wait_for_url(f"{iam_web.url}/")
    assert page.locator("#role").inner_text() == "Admin"
    assert page.locator(".who").get_attribute("title") == "arn:aws:sts::123456789012:assumed-role/wsauth-Admin/alice"
    assert page.locator('tr[data-dag-id="example_windsock"]').is_visible()
    again = _page(browser)
    again.goto(url)
    again.locator("h1").filter(has_text="Sign-in failed").wait_for()
    assert "already used" in again.content()


def test_viewer_lands_as_viewer_and_cannot_trigger(browser: Any, aws_at: IamCloud, iam_web: IamWeb) -> None:
    """victor lands as Viewer: no Trigger button, and a trigger POST with his session is 403."""
    page = _page(browser)
    page.goto(Client(ENV, session=aws_at.session("victor")).web_login_url())
    page.wait_for_url(f"{iam_web.url}/")
    assert page.locator("#role").inner_text() == "Viewer"
    page.goto(f"{iam_web.url}/dags/example_windsock")
    assert page.locator('[data-testid="trigger"]').count() == 0
    csrf = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    response = page.request.post(f"{iam_web.url}/dags/example_windsock/trigger", form={"csrf_token": csrf})
    assert response.status == 403


def test_sso_page_without_a_token_says_so(browser: Any, iam_web: IamWeb) -> None:
    """The SSO page opened without a token explains what to do instead of redirecting."""
    page = _page(browser)
    page.goto(f"{iam_web.url}/aws_mwaa/aws-console-sso?login=true")
    page.locator("#note").filter(has_text="no login token").wait_for()
