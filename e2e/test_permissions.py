"""What the server enforces whatever the page shows: an Admin cannot reset an Owner; a role without the
Reset MFA permission sees no reset controls, and a forged request from its session is refused."""


ADMIN = "admin@acme.test"
OWNER = "owner@acme.test"
SUPPORT = "support@acme.test"
JANE = "jane.doe@acme.test"


def test_admin_cannot_reset_an_owner(server, browser):
    browser.sign_in(ADMIN)
    browser.open("/members?query=olivia")
    _, menu = browser.open_row_menu(OWNER)
    # Disabled, its reason tied to it for screen readers.
    item, hint = browser.disabled_item_hint(menu, "[data-reset-member]")
    assert hint == "You can't reset an Owner's MFA"
    browser.check_accessibility("row menu with a disabled item")
    item.click()
    assert not browser.find("#single-reset").is_displayed()

    # A forged request from the Admin's own session: a clear error, the Owner untouched, the refusal audited.
    owner_id = server.member_id(OWNER)
    browser.submit_form("/members/reset-mfa", [("_csrf", browser.csrf()), ("memberId", owner_id.lower())])
    browser.wait_for(".alert-error")
    assert browser.alert_text() == "Couldn't reset MFA for Olivia Owner: you can't reset an Owner's MFA."
    assert server.mfa_status(OWNER) == "enabled"
    assert server.authenticators(OWNER) == 1 and server.recovery_codes(OWNER) == 10
    events = server.audit("mfa.reset", target=OWNER)
    assert [(e["result"], e["actor_email"]) for e in events] == [("denied", ADMIN)]


def test_member_without_permission_sees_no_controls_and_a_forged_post_is_refused(server, browsers):
    # Support may list and manage members but not reset MFA: no Reset MFA anywhere (no item, no reset dialogs);
    # the ⋮ menus and Actions hold only the lifecycle actions of members.manage.
    support = browsers()
    support.sign_in(SUPPORT)
    support.open("/members")
    support.wait_for("#members-table")
    assert len(support.find_all("#members-table tbody tr")) == 50
    assert support.find_all("[data-reset-member]") == [] and support.find_all("[data-bulk-reset]") == []
    assert support.find_all("#single-reset") == [] and support.find_all("#bulk-reset") == []
    assert len(support.find_all("[data-row-menu]")) == 50
    assert [i.get_attribute("textContent") for i in support.find_all("#actions-menu [role=menuitem]")] == [
        "Change role…", "Suspend", "Reactivate", "Remove…"]
    assert "Reset MFA" not in support.driver.page_source
    support.check_accessibility("members page for a role without Reset MFA")

    jane_id = server.member_id(JANE).lower()
    support.submit_form("/members/reset-mfa", [("_csrf", support.csrf()), ("memberId", jane_id)])
    support.wait_for(".alert-error")
    assert support.alert_text() == "Couldn't reset MFA: your role cannot reset MFA."
    support.submit_form("/members/reset-mfa", [("_csrf", support.csrf()), ("bulk", "1"), ("memberId", jane_id)])
    support.wait_for(".alert-error")
    assert server.mfa_status(JANE) == "enabled" and server.authenticators(JANE) == 1
    assert server.scalar("SELECT count(*) FROM reset_batches") == 0
    assert [(e["result"], e["actor_email"]) for e in server.audit("mfa.reset")] == [
        ("denied", SUPPORT), ("denied", SUPPORT)]

    # A plain Member has no Members page at all, and the same forged request changes nothing.
    member = browsers()
    member.sign_in(JANE)
    assert "Members" not in member.text(".sidenav")
    member.open("/members")
    assert "You do not have permission to do that." in member.text("main")
    assert member.find_all("#members-table") == []
    member.check_accessibility("permission denied page")
    member.open("/")
    member.submit_form("/members/reset-mfa", [("_csrf", member.csrf()),
                                              ("memberId", server.member_id(ADMIN).lower())])
    member.wait(lambda d: "/members" in member.path)
    assert "You do not have permission to do that." in member.text("main")
    assert server.mfa_status(ADMIN) == "enabled" and server.authenticators(ADMIN) == 1
    # Refused whole; the audit names the requested member, by id and email (a member of Jane's organization).
    refused = [e for e in server.audit("mfa.reset") if e["actor_email"] == JANE]
    assert [(e["result"], e["target_id"], e["target_email"]) for e in refused] == [
        ("denied", server.member_id(ADMIN), ADMIN)]
