"""Reset one member's MFA from the row's ⋮ menu: the modal says exactly what will happen, Cancel changes
nothing, Confirm resets and the table shows it."""

from latchkey_e2e import PHONE

ADMIN = "admin@acme.test"
JANE = "jane.doe@acme.test"


def test_single_reset_cancel_then_confirm(server, browser):
    jane_id = server.member_id(JANE)
    browser.sign_in(ADMIN)
    browser.open("/members?query=jane")
    browser.check_accessibility("members page")
    assert browser.mfa_cell(JANE) == "Enabled"

    button, menu = browser.open_row_menu(JANE)
    item = menu.find_element("css selector", "[data-reset-member]")
    assert item.text == "Reset MFA"
    browser.check_accessibility("members page with the row menu open")
    browser.screenshot("members-menu")

    item.click()
    dialog = browser.wait_for("#single-reset")
    text = dialog.text
    assert "Reset MFA for Jane Doe?" in text
    assert "jane.doe@acme.test" in text
    assert "sign Jane out of every device" in text
    assert "This action cannot be undone." in text
    browser.check_accessibility("single reset modal")
    browser.screenshot("single-reset-modal")
    browser.screenshot("single-reset-modal-phone", PHONE)

    # Cancel: the modal closes and nothing changed on the server.
    dialog.find_element("css selector", "[data-close]").click()
    browser.wait(lambda d: not browser.find("#single-reset").is_displayed())
    assert server.mfa_status(JANE) == "enabled"
    assert server.authenticators(JANE) == 1
    assert server.recovery_codes(JANE) == 10
    assert server.audit("mfa.reset", target=JANE) == []

    # Confirm, with a ticket.
    button, menu = browser.open_row_menu(JANE)
    menu.find_element("css selector", "[data-reset-member]").click()
    dialog = browser.wait_for("#single-reset")
    dialog.find_element("css selector", "#single-reason").send_keys("INC-2041 lost phone")
    dialog.find_element("css selector", "button[type=submit]").click()

    browser.wait_for(".alert-success")
    assert browser.alert_text() == "MFA reset for Jane Doe. They will set it up again at next sign-in."
    assert browser.mfa_cell(JANE) == "Reset — pending setup"
    browser.check_accessibility("members page after a reset")
    browser.screenshot("single-reset-done")

    # The server: factor and codes gone, every session ended, one audit event with the ticket, a notice.
    assert server.mfa_status(JANE) == "reset_pending"
    assert server.authenticators(JANE) == 0
    assert server.recovery_codes(JANE) == 0
    assert server.scalar("SELECT count(*) FROM sessions WHERE member_id = ?", jane_id) == 0
    events = server.audit("mfa.reset", target=JANE)
    assert len(events) == 1
    assert events[0]["result"] == "success" and events[0]["actor_email"] == ADMIN
    assert events[0]["ticket"] == "INC-2041 lost phone"
    mail = server.mail_to(JANE)
    assert len(mail) == 1 and "reset" in mail[0]["subject"].lower()
