"""Step-up: when the administrator's last MFA is older than the organization's window, the modal asks for
a fresh code before resetting, and the server insists on it."""

from latchkey_e2e import PHONE

ADMIN = "admin2@acme.test"
JANE = "jane.doe@acme.test"


def test_stale_mfa_asks_for_a_fresh_code_in_the_modal(server, browser, phone):
    browser.sign_in(ADMIN)
    admin_id = server.member_id(ADMIN)
    window = server.scalar("SELECT step_up_window_seconds FROM organizations WHERE slug = 'acme'")
    # Time passes: the session's last MFA is now older than the step-up window.
    server.execute("UPDATE sessions SET mfa_verified_at = mfa_verified_at - ? WHERE member_id = ?", window + 60,
                   admin_id)
    aged = server.scalar("SELECT mfa_verified_at FROM sessions WHERE member_id = ?", admin_id)

    browser.open("/members?query=jane")
    _, menu = browser.open_row_menu(JANE)
    menu.find_element("css selector", "[data-reset-member]").click()
    dialog = browser.wait_for("#single-reset")
    assert "Confirm it's you: enter a code from your authenticator app." in dialog.text
    code_field = browser.find("#single-code")
    assert code_field.is_displayed() and code_field.get_attribute("required") == "true"
    browser.check_accessibility("single reset modal asking for step-up")
    browser.screenshot("step-up-modal")
    browser.screenshot("step-up-modal-phone", PHONE)

    # A wrong code: refused, nothing reset, the session still stale.
    code_field.send_keys(phone.wrong_code(server.accounts[ADMIN]["totpSecret"]))
    dialog.find_element("css selector", "button[type=submit]").click()
    browser.wait_for(".alert-error")
    assert browser.alert_text() == "Couldn't reset MFA: that authentication code is not correct."
    assert server.mfa_status(JANE) == "enabled" and server.authenticators(JANE) == 1
    assert server.scalar("SELECT mfa_verified_at FROM sessions WHERE member_id = ?", admin_id) == aged
    assert [e["result"] for e in server.audit("auth.step_up")] == ["failure"]

    # A fresh code: verified and reset in one confirmation.
    _, menu = browser.open_row_menu(JANE)
    menu.find_element("css selector", "[data-reset-member]").click()
    browser.wait_for("#single-reset")
    browser.find("#single-code").send_keys(phone.code(server.accounts[ADMIN]["totpSecret"]))
    browser.find("#single-reset button[type=submit]").click()
    browser.wait_for(".alert-success")
    assert browser.alert_text() == "MFA reset for Jane Doe. They will set it up again at next sign-in."
    assert server.mfa_status(JANE) == "reset_pending" and server.authenticators(JANE) == 0
    assert server.scalar("SELECT mfa_verified_at FROM sessions WHERE member_id = ?", admin_id) > aged + window
    assert [e["result"] for e in server.audit("auth.step_up")] == ["failure", "success"]
    assert [e["result"] for e in server.audit("mfa.reset", target=JANE)] == ["success"]

    # Verified again: the next modal asks for no code.
    browser.open("/members?query=jane")
    assert browser.find_all("#single-code") == []
