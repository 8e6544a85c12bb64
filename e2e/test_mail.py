"""Mail that is really delivered: `latchkey demo --smtp-url` hands its mail to a real SMTP server (aiosmtpd with
STARTTLS on a throwaway CA and AUTH). An administrator invites someone; the invitation arrives; its link opens
the accept page, where the person sets a password and enrolls with a real phone (oathtool), and lands signed
in. Forgot password works the same way, and never skips the authenticator code."""

import urllib.parse

from latchkey_e2e import PHONE, link_in

OWNER = "owner@acme.test"
JANE = "jane.doe@acme.test"


def test_an_invitation_arrives_by_smtp_and_its_link_ends_signed_in_with_mfa(mail_server, smtp_sink, mail_browsers):
    admin = mail_browsers()
    admin.sign_in(OWNER)
    admin.open("/members")
    admin.find("[data-open-invite]").click()
    dialog = admin.wait_for("#invite-dialog")
    admin.find("#invite-emails").send_keys("new.hire@example.com,Nia New,Member\nsecond@example.com")
    admin.wait(lambda d: "2 people will be invited" in admin.text("#invite-preview"))
    admin.check_accessibility("invite dialog")
    admin.screenshot("invite-dialog", (1280, 900))
    dialog.find_element("css selector", "button[type=submit]").click()
    admin.wait_for(".alert")
    assert "2 invited, 0 skipped, 0 failed" in admin.text(".alert")
    admin.check_accessibility("invitation results")
    admin.screenshot("invite-results")

    # The table lists them as Invited, filterable.
    admin.open("/members?status=invited")
    assert "Nia New" in admin.text("#members-table") and "second@example.com" in admin.text("#members-table")
    assert server_status(mail_server, "new.hire@example.com") == "invited"
    admin.screenshot("members-invited")

    # The invitation comes through the SMTP server, over TLS, with text and HTML parts.
    envelope, message = smtp_sink.wait_for("new.hire@example.com", "invited you to Acme")
    assert envelope["tls"] and envelope["auth"] and envelope["mail_from"] == "security@acme.test"
    assert message["From"].addresses[0].addr_spec == "security@acme.test"
    assert message["Message-ID"] and message["Date"]
    assert message.get_body(("html",)) is not None
    link = link_in(message)
    assert link.startswith(mail_server.base + "/invitations/accept?token=")

    # The Mail page shows it sent.
    admin.open("/mail?status=sent")
    assert "new.hire@example.com" in admin.text("table")
    admin.check_accessibility("mail page")
    admin.screenshot("mail")

    person = mail_browsers()
    person.driver.get(link)
    assert "Olivia Owner invited you to join Acme" in person.text()
    person.check_accessibility("accept invitation page")
    person.screenshot("accept-invitation", (1280, 900))
    person.screenshot("accept-invitation-phone", PHONE)
    person.find("#accept-name").clear()
    person.find("#accept-name").send_keys("Nia New")
    person.find("#new-password").send_keys("a long and fine passphrase")
    person.find("#confirm-password").send_keys("a long and fine passphrase")
    person.find("form[action='/invitations/accept'] button[type=submit]").click()

    # Acme requires MFA: enrollment before anything else.
    person.wait_for_path("/enroll")
    secret = person.text("#secret").replace(" ", "")
    person.enter_code(person.phone.code(secret))
    person.wait_for("#recovery-codes")
    person.find("input[name=saved]").click()
    person.find("#continue").click()
    person.wait_for_path("/")
    assert "Welcome, Nia New" in person.text()
    assert server_status(mail_server, "new.hire@example.com") == "active"
    assert mail_server.mfa_status("new.hire@example.com") == "enabled"
    assert len(mail_server.audit("member.invitation_accepted", target="new.hire@example.com")) == 1

    # The link is spent.
    again = mail_browsers()
    again.driver.get(link)
    assert "This invitation can't be used" in again.text()


def server_status(server, email):
    return server.scalar("SELECT status FROM members WHERE email = ?", email)


def test_forgot_password_sends_a_link_that_sets_a_password_and_still_asks_for_the_code(
        mail_server, smtp_sink, mail_browsers):
    browser = mail_browsers()
    signed_in = mail_browsers()
    signed_in.sign_in(JANE)
    browser.open("/login")
    browser.find("a[href='/password/forgot']").click()
    browser.wait_for_path("/password/forgot")
    browser.check_accessibility("forgot password page")
    browser.find("#email").send_keys(JANE)
    browser.find("form[action='/password/forgot'] button").click()
    browser.wait(lambda d: "Check your email" in d.page_source)
    browser.screenshot("forgot-password-sent")
    # An unknown email gets the very same page.
    other = mail_browsers()
    other.open("/password/forgot")
    other.find("#email").send_keys("nobody@acme.test")
    other.find("form[action='/password/forgot'] button").click()
    other.wait(lambda d: "Check your email" in d.page_source)
    assert other.text("main").replace("nobody@acme.test", JANE) == browser.text("main")

    _, message = smtp_sink.wait_for(JANE, "Set a new Latchkey password")
    link = link_in(message)
    token = urllib.parse.parse_qs(urllib.parse.urlparse(link).query)["token"][0]
    assert token not in str(mail_server.query("SELECT token_hash FROM member_tokens"))
    browser.driver.get(link)
    assert f"For {JANE}" in browser.text()
    browser.check_accessibility("set password page")
    browser.screenshot("set-password")
    # The browser holds back what is too short; the server refuses what is too common.
    browser.find("#new-password").send_keys("1qaz2wsx3edc")
    browser.find("#confirm-password").send_keys("1qaz2wsx3edc")
    browser.find("form[action='/password/reset'] button").click()
    browser.wait_for("[role=alert]")
    assert "most common" in browser.alert_text()
    browser.find("#new-password").send_keys("jane's brand new passphrase")
    browser.find("#confirm-password").send_keys("jane's brand new passphrase")
    browser.find("form[action='/password/reset'] button").click()
    browser.wait_for_path("/login")
    assert "Your new password is set" in browser.text()

    # Every session ended: the other browser is signed out at its next click.
    signed_in.open("/security")
    signed_in.wait_for_path("/login")

    # The new password works, and the authenticator code is still asked for.
    browser.sign_in_password(JANE, "jane's brand new passphrase")
    browser.wait_for_path("/login/mfa")
    browser.enter_code(browser.phone.code(mail_server.accounts[JANE]["totpSecret"]))
    browser.wait_for_path("/")
    assert browser.path in ("/", "/#")
    _, changed = smtp_sink.wait_for(JANE, "Your Latchkey password was changed")
    assert "signed out everywhere" in changed.get_body(("plain",)).get_content()
