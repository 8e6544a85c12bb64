"""Sign-in with password + TOTP from a real authenticator (oathtool), and the refusals around it."""

from latchkey_e2e import PHONE

JANE = "jane.doe@acme.test"


def test_password_and_code_sign_in_wrong_code_and_replay(server, browser, phone):
    secret = server.accounts[JANE]["totpSecret"]

    browser.open("/login")
    browser.check_accessibility("sign-in page")
    browser.screenshot("sign-in")
    browser.screenshot("sign-in-phone", PHONE)

    browser.sign_in_password(JANE)
    browser.wait_for_path("/login/mfa")
    assert "Enter the 6-digit code from your authenticator app" in browser.text()
    browser.check_accessibility("two-step verification page")

    # A wrong code: a clear error, the member is still not signed in, the failure counted and audited.
    browser.enter_code(phone.wrong_code(secret))
    browser.wait_for("[role=alert]")
    assert "That code is not correct" in browser.alert_text()
    assert browser.path.startswith("/login/mfa")
    browser.check_accessibility("two-step verification with an error")
    assert server.second_factor_failures(JANE) == 1
    assert server.sessions(JANE) == 0
    assert [e["result"] for e in server.audit("auth.mfa", target=JANE)] == ["failure"]

    # The right code: signed in, on the overview, with a fully verified session.
    code = phone.code(secret)
    browser.enter_code(code)
    browser.wait_for_path("/")
    assert browser.path == "/"
    assert "Jane Doe" in browser.text(".account")
    assert server.sessions(JANE) == 1
    member = server.member(JANE)
    assert server.second_factor_failures(JANE) == 0 and member["last_sign_in_at"] is not None
    assert server.scalar("SELECT mfa_verified_at FROM sessions WHERE member_id = ?", member["id"]) is not None
    assert [e["result"] for e in server.audit("auth.mfa", target=JANE)] == ["failure", "success"]

    # The same code again, from a new sign-in: refused as a replay, and no second session.
    browser.sign_out()
    assert server.sessions(JANE) == 0
    browser.sign_in_password(JANE)
    browser.wait_for_path("/login/mfa")
    browser.enter_code(code)
    browser.wait_for("[role=alert]")
    assert "That code was already used" in browser.alert_text()
    assert browser.path.startswith("/login/mfa")
    assert server.sessions(JANE) == 0
    assert len(server.audit("auth.code_reuse", target=JANE)) == 1

    # A fresh code still works.
    browser.enter_code(phone.code(secret))
    browser.wait_for_path("/")
    assert server.sessions(JANE) == 1
