"""An administrator suspends a member from the row's ⋮ menu (the member's open browser is signed out at its
next click), reactivates them, changes their role, and removes another member — each after a confirmation
that says what will happen; an Owner's row offers the actions disabled, with the reason."""

from latchkey_e2e import PHONE

ADMIN = "admin@acme.test"
JANE = "jane.doe@acme.test"
SAM = "sam.lee@acme.test"
OWNER = "owner@acme.test"


def choose(browser, email, action):
    """⋮ → the lifecycle item `action`; returns its dialog once shown."""
    _, menu = browser.open_row_menu(email)
    menu.find_element("css selector", f"[data-lifecycle={action}]").click()
    dialog = browser.wait_for(f"#lifecycle-{action}")
    browser.wait(lambda d: dialog.is_displayed())
    return dialog


def confirm(browser, dialog):
    browser.click_to_load(dialog.find_element("css selector", "button[type=submit]"))
    browser.wait_for(".alert-success")
    return browser.alert_text()


def test_suspend_reactivate_change_role_and_remove_from_the_menu(server, browsers):
    admin, jane = browsers(), browsers()
    jane.sign_in(JANE)
    admin.sign_in(ADMIN)

    # The Overview: MFA coverage with its parts linking to the filtered table (Suspended: Sid Stone).
    coverage = admin.find("#coverage-heading").find_element("xpath", "..")
    assert "have MFA enabled" in coverage.text
    admin.check_accessibility("the administrator's overview")
    admin.screenshot("overview")
    coverage.find_element("link text", "Suspended").click()
    admin.wait(lambda d: "status=suspended" in admin.path)
    assert [r.get_attribute("data-name") for r in admin.find_all("#members-table tbody tr")] == ["Sid Stone"]

    admin.open("/members?query=jane")

    # Suspend: the dialog says what happens; the member's open session ends.
    dialog = choose(admin, JANE, "suspend")
    assert "Suspend Jane Doe?" in dialog.text
    assert "Jane can't sign in until reactivated; they are signed out now." in dialog.text
    dialog.find_element("css selector", "#lifecycle-suspend-reason").send_keys("INC-77 laptop stolen")
    admin.check_accessibility("suspend dialog")
    admin.screenshot("member-suspend-modal")
    assert confirm(admin, dialog) == "Jane Doe is suspended and was signed out everywhere."
    row = admin.find(f"tr[data-member-id='{server.member_id(JANE).lower()}']")
    assert "Suspended" in row.find_element("css selector", ".col-name").text
    assert server.member(JANE)["status"] == "suspended" and server.sessions(JANE) == 0
    [event] = server.audit("member.suspended", target=JANE)
    assert (event["result"], event["actor_email"], event["ticket"]) == ("success", ADMIN, "INC-77 laptop stolen")
    assert event["reason"] == "status: active → suspended"
    jane.open("/security")
    jane.wait_for_path("/login")

    admin.open("/members?status=suspended")
    assert [r.get_attribute("data-name") for r in admin.find_all("#members-table tbody tr")] == ["Jane Doe", "Sid Stone"]
    admin.check_accessibility("members filtered on Suspended")
    admin.screenshot("members-suspended")

    # Reactivate, then change her role to one the Admin may grant (never Owner).
    assert confirm(admin, choose(admin, JANE, "reactivate")) == "Jane Doe is active again and can sign in."
    assert server.member(JANE)["status"] == "active"
    admin.open("/members?query=jane")
    dialog = choose(admin, JANE, "role")
    options = [o.text for o in dialog.find_elements("css selector", "#lifecycle-role-select option")]
    assert "Owner" not in options and {"Admin", "Member", "Help desk"} <= set(options)
    # The dialog opens on her current role (the row names it).
    assert [o.text for o in dialog.find_elements("css selector", "#lifecycle-role-select option") if o.is_selected()] == [
        "Member"]
    for option in dialog.find_elements("css selector", "#lifecycle-role-select option"):
        if option.text == "Help desk":
            option.click()
    admin.check_accessibility("change role dialog")
    admin.screenshot("member-change-role-modal")
    assert confirm(admin, dialog) == "Jane Doe is now Help desk."
    row = admin.find(f"tr[data-member-id='{server.member_id(JANE).lower()}']")
    assert row.find_element("css selector", ".col-role").text == "Help desk"

    # Her name opens her page: who she is, her factors (never a secret), sessions and recent activity, and the
    # same actions, which come back to the page.
    row.find_element("css selector", "a.name").click()
    admin.wait_for_path("/members/")
    assert admin.find("h1").text == "Jane Doe"
    assert "jane.doe@acme.test · Help desk" in admin.find(".page-head").text
    assert "Recovery codes left" in admin.find("#mfa-heading").find_element("xpath", "..").text
    activity = admin.find("#activity-heading").find_element("xpath", "..").text
    assert "member.role_changed" in activity and "member.suspended" in activity
    admin.check_accessibility("a member's page")
    admin.screenshot("member-page")
    dialog = choose(admin, JANE, "suspend")
    assert confirm(admin, dialog) == "Jane Doe is suspended and was signed out everywhere."
    assert admin.path.startswith("/members/")
    assert "Suspended" in admin.find(".badges").text
    assert confirm(admin, choose(admin, JANE, "reactivate")) == "Jane Doe is active again and can sign in."

    # An Owner's row: the actions are there, disabled, with the reason tied to them.
    admin.open("/members?query=owner")
    _, menu = admin.open_row_menu(OWNER)
    item, hint = admin.disabled_item_hint(menu, "[data-lifecycle=remove]")
    assert hint == "You can't change an Owner's account"
    item.click()  # does nothing
    assert not admin.find("#lifecycle-remove").is_displayed()

    # Remove: gone from the table and the database; the audit history stays.
    admin.open("/members?query=sam")
    sam_id = server.member_id(SAM)
    dialog = choose(admin, SAM, "remove")
    assert "Remove Sam Lee from Acme?" in dialog.text
    assert "They lose access at once. Their audit history is kept." in dialog.text
    assert "This cannot be undone." in dialog.text
    admin.screenshot("member-remove-modal", PHONE)
    assert confirm(admin, dialog) == "The member was removed. Their audit history is kept."
    assert server.scalar("SELECT count(*) FROM members WHERE id = ?", sam_id) == 0
    [removed] = server.audit("member.removed", target=SAM)
    assert removed["result"] == "success" and removed["target_id"].lower() == sam_id.lower()
    assert [m["subject"] for m in server.mail_to(SAM)] == ["You were removed from Acme"]


def test_suspend_a_selection_from_actions(server, browser):
    browser.sign_in(ADMIN)
    browser.open("/members?query=lee")
    checks = browser.find_all(".row-check")
    chosen = [c.find_element("xpath", "ancestor::tr").get_attribute("data-name") for c in checks[:2]]
    checks[0].click()
    checks[1].click()
    browser.find("#actions-button").click()
    browser.find("[data-bulk-lifecycle=suspend]").click()
    dialog = browser.wait_for("#bulk-suspend")
    assert "Suspend 2 members?" in dialog.text
    assert ", ".join(chosen) in dialog.text
    assert "They can't sign in until reactivated; they are signed out everywhere now." in dialog.text
    submit = dialog.find_element("css selector", "[data-field=submit]")
    assert submit.text == "Suspend 2 members" and submit.is_enabled()
    browser.find("#bulk-suspend-reason").send_keys("INC-88 contractors left")
    browser.check_accessibility("bulk suspend dialog")
    browser.screenshot("bulk-suspend-modal")
    submit.click()
    browser.wait_for("#summary")
    assert browser.find("h1").text == "Suspend: results"
    assert browser.text("#summary") == "2 suspended · 0 skipped · 0 failed"
    assert len(browser.find_all("#results tbody tr")) == 2
    browser.check_accessibility("bulk suspend results")
    browser.screenshot("bulk-suspend-results")
    events = server.audit("member.suspended", result="success")
    assert len(events) == 3 and {e["ticket"] for e in events} >= {"INC-88 contractors left"}  # Sid in the demo, and these two

