"""A member who typed too many wrong codes is told when to try again and to ask an administrator; the
administrator finds them under Status: Locked and lifts the lock from the row's ⋮ menu; the member signs in."""

import re

from latchkey_e2e import PHONE

ADMIN = "admin@acme.test"
JANE = "jane.doe@acme.test"
OWNER = "owner@acme.test"


def test_locked_member_is_told_then_unlocked_from_the_menu(server, browsers, phone):
    jane, admin = browsers(), browsers()
    secret = server.accounts[JANE]["totpSecret"]

    # Five wrong codes, then even the right one waits: the page says for how long, and whom to ask.
    jane.sign_in_password(JANE)
    jane.wait_for_path("/login/mfa")
    for _ in range(5):
        jane.enter_code(phone.wrong_code(secret))
        jane.wait_for("[role=alert]")
    jane.enter_code(phone.code(secret))
    jane.wait(lambda d: "Too many sign-in attempts" in jane.alert_text())
    message = jane.alert_text()
    wait = re.search(r"Try again in (\d+) seconds\.", message)
    assert wait and 1 <= int(wait.group(1)) <= 30, message
    assert "ask an administrator to unlock your sign-in" in message
    assert jane.path.startswith("/login/mfa")
    assert server.second_factor_failures(JANE) == 5 and server.sessions(JANE) == 0
    jane.check_accessibility("two-step verification while throttled")
    jane.screenshot("sign-in-throttled")

    # The Owner is locked too (an out-of-band state): an Admin may not lift an Owner's lock.
    owner_id = server.member_id(OWNER)
    server.execute(
        "INSERT INTO sign_in_throttles (key, kind, email, member_id, organization_id, failures, last_failed_at, "
        "locked_until) SELECT ?, 'second_factor', email, id, organization_id, 50, 0, 253402300799000 "
        "FROM members WHERE id = ?", "mfa|" + owner_id.lower(), owner_id)

    admin.sign_in(ADMIN)
    admin.open("/members")
    admin.find("#status-filter option[value=locked]").click()
    admin.wait(lambda d: "status=locked" in admin.path)
    rows = admin.find_all("#members-table tbody tr")
    assert sorted(r.get_attribute("data-name") for r in rows) == ["Jane Doe", "Lou Meyer", "Olivia Owner"]
    assert all("Locked" in r.find_element("css selector", ".col-name").text for r in rows)
    admin.check_accessibility("members filtered on Locked")

    _, menu = admin.open_row_menu(OWNER)
    item, hint = admin.disabled_item_hint(menu, "[data-unlock-member]")
    assert hint == "You can't unlock an Owner's sign-in"
    admin.check_accessibility("row menu with a disabled Unlock sign-in")
    item.click()  # a disabled item does nothing
    assert server.scalar("SELECT count(*) FROM sign_in_throttles WHERE email = ?", OWNER) == 1

    _, menu = admin.open_row_menu(JANE)
    items = [i.text for i in menu.find_elements("css selector", "[role=menuitem]")]
    assert items == ["Reset MFA", "Unlock sign-in", "Change role…", "Suspend", "Remove…"]
    admin.check_accessibility("row menu with Unlock sign-in")
    admin.screenshot("members-locked")
    admin.screenshot("members-locked-phone", PHONE)
    menu.find_element("css selector", "[data-unlock-member]").click()

    admin.wait_for(".alert-success")
    assert admin.alert_text() == "Sign-in unlocked for Jane Doe. They can sign in again now."
    assert [r.get_attribute("data-name") for r in admin.find_all("#members-table tbody tr")] == ["Lou Meyer", "Olivia Owner"]
    admin.check_accessibility("members after an unlock")

    # The server: Jane's counters gone, the unlock on the record with who did it; the Owner still locked.
    assert server.scalar("SELECT count(*) FROM sign_in_throttles WHERE email = ?", JANE) == 0
    [event] = server.audit("member.sign_in_unlocked", target=JANE)
    assert (event["result"], event["actor_email"]) == ("success", ADMIN)
    assert server.scalar("SELECT count(*) FROM sign_in_throttles WHERE email = ?", OWNER) == 1

    # Jane, still on her code page, gets in with her next code.
    jane.enter_code(phone.code(secret))
    jane.wait_for_path("/")
    assert server.sessions(JANE) == 1
    assert [e["result"] for e in server.audit("auth.mfa", target=JANE)] == ["failure"] * 5 + ["success"]


def test_wrong_passwords_are_throttled_in_the_same_words_for_any_email(server, browser):
    answers = {}
    for email in [JANE, "nobody@acme.test"]:
        for _ in range(5):
            browser.sign_in_password(email, password="not the password!")
            browser.wait(lambda d: "Email or password is incorrect." in browser.alert_text())
        browser.sign_in_password(email)  # even the right password waits
        browser.wait(lambda d: "Too many sign-in attempts" in browser.alert_text())
        answers[email] = browser.alert_text()
        assert browser.path.startswith("/login")
    # The same words (only the seconds left may differ, by the time the second run took).
    assert re.sub(r"\d+", "N", answers[JANE]) == re.sub(r"\d+", "N", answers["nobody@acme.test"])
    assert "ask an administrator to unlock your sign-in" in answers[JANE]
    assert server.sessions(JANE, state="mfa_pending") == 0
    assert len(server.audit("auth.password", target=JANE, result="failure")) == 5
    browser.check_accessibility("sign-in page while throttled")
    browser.screenshot("sign-in-password-throttled")
