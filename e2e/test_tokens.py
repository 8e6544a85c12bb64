"""An Owner mints an API token on the API tokens page: the token is shown once, works on the JSON API with no
cookie, is never shown again, and stops working the moment it is revoked; the audit log names it. A token that
may reset MFA asks for a fresh code when the sign-in is older than the step-up window."""

import json
import urllib.error
import urllib.request

from latchkey_e2e import PHONE

OWNER = "owner@acme.test"


def call(server, path, token):
    request = urllib.request.Request(server.base + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null"), dict(error.headers)


def test_a_token_is_shown_once_works_and_dies_when_revoked(server, browser):
    browser.sign_in(OWNER)
    browser.find(".sidenav a[href='/tokens']").click()
    browser.wait_for_path("/tokens")
    assert browser.find("#no-tokens").text == "No tokens yet."
    browser.find("#token-name").send_keys("Help-desk script")
    browser.find("#token-members-view").click()
    browser.find("#token-members-manage").click()
    browser.check_accessibility("API tokens page")
    browser.find("form[action='/tokens'] button[type=submit]").click()
    token = browser.wait_for("#minted-token").text
    assert token.startswith("lk_") and len(token) == 46
    assert "shown only this once" in browser.text("main")
    browser.screenshot("tokens-created")
    browser.check_accessibility("API tokens page with a new token")
    [row] = server.query("SELECT name, token_hash, permissions FROM api_tokens")
    assert row["name"] == "Help-desk script" and row["token_hash"] != token
    assert row["permissions"] == "members.manage,members.view"

    status, page, headers = call(server, "/api/v1/members?limit=3", token)
    assert status == 200 and len(page["members"]) == 3
    assert headers["RateLimit-Limit"] == "600"
    status, _, _ = call(server, "/api/v1/audit-events", token)
    assert status == 403  # the token holds no audit.view, whatever the Owner's role holds

    browser.open("/tokens")
    assert token not in browser.driver.page_source
    table = browser.text("#tokens-table")
    assert "Help-desk script" in table and token[:11] in table and "Active" in table
    browser.screenshot("tokens")
    browser.screenshot("tokens-phone", PHONE)
    browser.find("#tokens-table button[aria-label='Revoke token Help-desk script']").click()
    browser.wait_for(".alert-success")
    assert "Token revoked." in browser.alert_text()
    assert "Revoked" in browser.text("#tokens-table")
    status, body, headers = call(server, "/api/v1/members?limit=3", token)
    assert status == 401 and body["error"]["code"] == "invalid_token"

    browser.open("/audit")
    assert "API token “Help-desk script”" not in browser.text("main")  # the token only read; it changed nothing
    [created] = server.audit("token.created")
    [revoked] = server.audit("token.revoked")
    assert created["result"] == revoked["result"] == "success"


def test_a_token_that_may_reset_mfa_needs_a_fresh_code(server, browser, phone):
    browser.sign_in(OWNER)
    # The sign-in is older than the step-up window.
    window = server.scalar("SELECT step_up_window_seconds FROM organizations WHERE slug = 'acme'")
    server.execute("UPDATE sessions SET mfa_verified_at = mfa_verified_at - ?", window + 60)
    browser.open("/tokens")
    browser.find("#token-name").send_keys("Reset bot")
    for permission in ["members-view", "members-manage", "members-reset_mfa"]:
        browser.find(f"#token-{permission}").click()
    browser.find("form[action='/tokens'] button[type=submit]").click()
    browser.wait_for(".alert-error")
    assert "Confirm it's you" in browser.alert_text()
    assert server.scalar("SELECT COUNT(*) FROM api_tokens") == 0
    # The form kept what was entered; a code from the phone lets it through.
    assert browser.find("#token-name").get_attribute("value") == "Reset bot"
    browser.find("#token-days").send_keys("90 days")
    browser.find("#token-code").send_keys(phone.code(server.accounts[OWNER]["totpSecret"]))
    browser.find("form[action='/tokens'] button[type=submit]").click()
    token = browser.wait_for("#minted-token").text
    member = server.member_id("jane.doe@acme.test")
    request = urllib.request.Request(
        server.base + f"/api/v1/members/{member}/mfa/reset", data=b'{"reason":"INC-9"}', method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert server.mfa_status("jane.doe@acme.test") == "reset_pending"
    [event] = server.audit("mfa.reset", target="jane.doe@acme.test")
    assert event["actor_token_name"] == "Reset bot" and event["actor_email"] == OWNER
    browser.open("/audit?action=mfa.reset")
    assert "API token “Reset bot”" in browser.text("main")
