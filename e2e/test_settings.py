"""Security settings: weakening one (Require MFA off, a longer step-up window or session) asks for a confirmation
that names each effect and a fresh code, is refused without one, and mails the owners; strengthening asks for
nothing."""

from latchkey_e2e import PHONE

OWNER = "owner@acme.test"


def settings_row(server):
    row = server.query("SELECT require_mfa, step_up_window_seconds, session_lifetime_seconds FROM organizations "
                       "WHERE slug = 'acme'")[0]
    return (bool(row["require_mfa"]), row["step_up_window_seconds"], row["session_lifetime_seconds"])


def test_weakening_settings_asks_for_a_code_and_is_refused_without_one(server, browser, phone):
    browser.sign_in(OWNER)
    before = settings_row(server)
    browser.open("/settings")
    browser.find("input[name=requireMFA]").click()  # off
    hours = browser.find("#lifetime")
    hours.clear()
    hours.send_keys("48")
    browser.find("form.settings button[type=submit]").click()

    browser.wait_for("input[name=code]")
    page = browser.text("main")
    assert "Confirm weaker security settings" in page
    assert "Members will be able to sign in without MFA." in page
    assert "Sessions will last up to 48 hours (now 12)." in page
    assert "Every owner will be emailed what changed." in page
    assert settings_row(server) == before
    browser.check_accessibility("settings weakening confirmation")
    browser.screenshot("settings-confirm")
    browser.screenshot("settings-confirm-phone", PHONE)

    # A wrong code: refused, asked again, nothing saved.
    browser.find("input[name=code]").send_keys(phone.wrong_code(server.accounts[OWNER]["totpSecret"]))
    browser.find("form.settings button[type=submit]").click()
    browser.wait_for(".alert-error")
    assert "Confirm weaker security settings" in browser.text("main")
    assert settings_row(server) == before
    assert server.audit("org.settings_changed") == []
    # A forged confirmation without any code: refused too.
    browser.submit_form("/settings", [("_csrf", browser.csrf()), ("confirming", "1"), ("stepUpMinutes", "10"),
                                      ("sessionHours", "48"), ("idleMinutes", "60"), ("notifyOwners", "on")])
    browser.wait_for(".alert-error")
    assert "confirm them with a code" in browser.alert_text()
    assert settings_row(server) == before

    # The right code: saved, and the owners told.
    browser.open("/settings")
    browser.find("input[name=requireMFA]").click()
    hours = browser.find("#lifetime")
    hours.clear()
    hours.send_keys("48")
    browser.find("form.settings button[type=submit]").click()
    browser.wait_for("input[name=code]").send_keys(phone.code(server.accounts[OWNER]["totpSecret"]))
    browser.click_to_load(browser.find("form.settings button[type=submit]"))
    browser.wait_for(".alert-success")
    assert browser.alert_text() == "Settings saved."
    assert settings_row(server) == (False, before[1], 48 * 3600)
    [changed] = server.audit("org.settings_changed")
    assert "require_mfa: true → false" in changed["reason"]
    told = server.mail_to(OWNER)
    assert any(m["subject"] == "Security settings weakened in Acme" and "without MFA" in m["body"] for m in told)

    # Back to requiring MFA: stronger, saved at once.
    browser.find("input[name=requireMFA]").click()
    browser.click_to_load(browser.find("form.settings button[type=submit]"))
    browser.wait_for(".alert-success")
    assert settings_row(server)[0] is True
