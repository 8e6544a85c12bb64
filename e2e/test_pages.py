"""Every page an administrator and a member reach, checked with axe-core and photographed at desktop and
phone sizes: the audit log and the demo mailbox after a real reset, settings, My security, errors."""

from latchkey_e2e import PHONE

OWNER = "owner@acme.test"
JANE = "jane.doe@acme.test"


def test_every_page_is_accessible_and_shows_what_happened(server, browser):
    browser.sign_in(OWNER)
    browser.check_accessibility("overview")
    browser.screenshot("overview")

    browser.open("/members")
    browser.check_accessibility("members page")
    browser.screenshot("members")
    browser.screenshot("members-phone", PHONE)
    browser.set_viewport(PHONE)
    browser.open("/members?query=jane")
    browser.open_row_menu(JANE)
    browser.check_accessibility("members page on a phone with the row menu open")
    browser.screenshot("members-menu-phone", PHONE)
    browser.set_viewport((1280, 800))

    # A reset to read about afterwards.
    browser.open("/members?query=jane")
    _, menu = browser.open_row_menu(JANE)
    menu.find_element("css selector", "[data-reset-member]").click()
    browser.wait_for("#single-reset")
    browser.find("#single-reason").send_keys("INC-2041 lost phone")
    browser.find("#single-reset button[type=submit]").click()
    browser.wait_for(".alert-success")

    browser.open("/audit?action=mfa.reset")
    rows = browser.find_all("table tbody tr")
    assert len(rows) == 1
    assert "Jane Doe" in rows[0].text or JANE in rows[0].text
    assert "INC-2041 lost phone" in rows[0].text
    assert server.audit("mfa.reset", target=JANE)[0]["ticket"] == "INC-2041 lost phone"
    browser.check_accessibility("audit log")
    browser.screenshot("audit-log")
    browser.screenshot("audit-log-phone", PHONE)

    browser.open("/mailbox")
    assert "jane.doe@acme.test" in browser.text("main")
    assert len(server.mail_to(JANE)) == 1
    browser.check_accessibility("demo mailbox")
    browser.screenshot("mailbox")

    browser.open("/settings")
    browser.check_accessibility("settings")
    browser.screenshot("settings")

    browser.open("/security")
    browser.check_accessibility("my security")
    browser.screenshot("security")
    browser.screenshot("security-phone", PHONE)

    # The same pages laid out for a phone.
    browser.set_viewport(PHONE)
    event = server.audit("mfa.reset", target=JANE)[0]["id"].lower()
    jane = server.member_id(JANE).lower()
    for path in ["/", "/members", "/audit", f"/audit/events/{event}", "/settings", "/mailbox", "/security",
                 "/roles", "/tokens", "/webhooks", f"/members/{jane}"]:
        browser.open(path)
        assert browser.driver.execute_script("return document.documentElement.scrollWidth") <= PHONE[0], (
            f"{path} is wider than a phone screen")
        browser.check_accessibility(f"{path} on a phone")
    browser.set_viewport((1280, 800))

    browser.open("/members/resets/00000000-0000-0000-0000-000000000000")
    assert "No such reset." in browser.text("main")
    browser.check_accessibility("not found page")

    browser.open("/members?mfa=bogus")
    assert "MFA filter is enabled, not_set_up or reset_pending." in browser.text("main")
    browser.check_accessibility("bad filter page")

    # The signed-out pages, and the way back to the start.
    browser.open("/")
    browser.sign_out()
    browser.check_accessibility("sign-in page after sign-out")
    browser.open("/login/recovery")
    browser.wait_for_path("/login")


def test_every_dialog_is_accessible_at_both_sizes(server, browser):
    """Each confirmation on the Members page — the row's and the bulk ones — and the invitation dialog, opened
    as an Owner sees them, at desktop and phone sizes."""
    browser.sign_in(OWNER)
    browser.open("/members?query=jane")
    for item, dialog in [("[data-reset-member]", "#single-reset"), ("[data-lifecycle=role]", "#lifecycle-role"),
                         ("[data-lifecycle=suspend]", "#lifecycle-suspend"),
                         ("[data-lifecycle=remove]", "#lifecycle-remove")]:
        _, menu = browser.open_row_menu(JANE)
        menu.find_element("css selector", item).click()
        browser.wait_for(dialog)
        browser.check_accessibility_at_both_sizes(f"{dialog} dialog")
        browser.find(f"{dialog} [data-close]").click()
    browser.open("/members")
    browser.find("#select-page").click()
    for item, dialog in [("[data-bulk-reset]", "#bulk-reset"), ("[data-bulk-lifecycle=role]", "#bulk-role"),
                         ("[data-bulk-lifecycle=suspend]", "#bulk-suspend"),
                         ("[data-bulk-lifecycle=reactivate]", "#bulk-reactivate"),
                         ("[data-bulk-lifecycle=remove]", "#bulk-remove")]:
        browser.find("#actions-button").click()
        browser.find(item).click()
        browser.wait_for(dialog)
        browser.find(f"{dialog} [data-field=confirm-input]").send_keys("1")
        browser.check_accessibility_at_both_sizes(f"{dialog} dialog with a mismatched count")
        browser.find(f"{dialog} [data-close]").click()
    browser.find("[data-open-invite]").click()
    browser.wait_for("#invite-dialog")
    browser.check_accessibility_at_both_sizes("invite dialog")


def test_the_accessibility_check_catches_real_violations(server, browser):
    """The check above can fail: an unlabelled field and unreadable text are reported as serious/critical."""
    browser.open("/login")
    # (Through the DOM and CSSOM: the page's Content-Security-Policy rightly ignores inline style attributes.)
    browser.driver.execute_script(
        """const main = document.querySelector("main");
           main.append(document.createElement("input"));
           const faint = document.createElement("p");
           faint.textContent = "faint text";
           faint.style.color = "#ddd";
           main.append(faint);""")
    try:
        browser.check_accessibility("a page broken on purpose")
    except AssertionError as error:
        report = str(error)
    else:
        raise AssertionError("axe reported nothing on a broken page")
    assert "label" in report and "color-contrast" in report
