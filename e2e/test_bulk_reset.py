"""Bulk reset: checkboxes, "Select all N matching", Actions → Reset MFA with its preview of who will be skipped,
the typed-count guard that names the number, honest per-member results (failed first, filterable, linked to the
batch's audit events; no retry for failures a retry cannot change) and the CSV; and a selection whose filter
matches another number by the time it is sent is refused, not silently changed."""

from selenium.webdriver.support.ui import Select

from latchkey_e2e import PHONE, read_csv

HELPDESK = "helpdesk@acme.test"


def matching(server, prefix):
    """The Acme members the search "prefix" matches (word-prefix search), from the server's own index."""
    return server.query(
        """SELECT m.id, m.email, m.name, m.mfa_status, r.name AS role FROM members m JOIN roles r ON r.id = m.role_id
           WHERE m.id IN (SELECT t.member_id FROM member_search_prefixes t JOIN organizations o ON o.id = t.organization_id
                          WHERE o.slug = 'acme' AND t.prefix = ?)""", prefix)


def test_bulk_reset_select_all_matching_with_results_retry_and_csv(server, browser):
    members = matching(server, "o")
    total = len(members)
    assert 25 < total <= 200, total  # more than one page of 25, typed-count guard, still synchronous
    expected_failed = {m["email"] for m in members if m["role"] == "Owner"}
    expected_skipped = {m["email"] for m in members if m["role"] != "Owner" and m["mfa_status"] != "enabled"}
    expected_reset = {m["email"] for m in members} - expected_failed - expected_skipped
    assert expected_failed and expected_skipped and expected_reset

    browser.sign_in(HELPDESK)
    browser.open("/members")
    browser.find("#query").send_keys("o")
    browser.find(".filters button[type=submit]").click()
    browser.wait(lambda d: "query=o" in browser.path)
    Select(browser.find("#limit")).select_by_value("25")
    browser.wait(lambda d: "limit=25" in browser.path)
    assert browser.text("#showing") == f"Showing 1–25 of {total}"

    # Two rows by hand, then the whole page, then every match.
    actions = browser.find("#actions-button")
    assert not actions.is_enabled()
    checks = browser.find_all(".row-check")
    checks[0].click()
    checks[1].click()
    assert browser.text("#selection-bar") == "2 members selected."
    assert actions.is_enabled()
    browser.find("#select-page").click()
    bar = browser.find("#selection-bar")
    assert "25 members on this page are selected." in bar.text
    bar.find_element("css selector", "button").click()
    assert browser.text("#selection-bar").startswith(f"All {total} matching members are selected.")
    browser.check_accessibility("members page with every match selected")
    browser.screenshot("members-selected")

    actions.click()
    browser.find("[data-bulk-reset]").click()
    dialog = browser.wait_for("#bulk-reset")
    assert f"Reset MFA for {total} members?" in dialog.text
    assert f"MFA will be reset for all {total} selected members" in dialog.text
    assert "This action cannot be undone." in dialog.text
    submit = dialog.find_element("css selector", "[data-field=submit]")
    assert submit.text == f"Reset MFA for {total} members"
    no_mfa = sum(1 for m in members if m["mfa_status"] != "enabled")
    browser.wait(lambda d: "will be skipped" in browser.text("#bulk-skip"))
    assert browser.text("#bulk-skip") == f"{no_mfa} of them have no MFA set up and will be skipped."

    # The typed-count guard: the button stays off until the exact number is typed...
    confirm = browser.find("#bulk-confirm")
    assert confirm.is_displayed()
    assert browser.text("label[for=bulk-confirm]") == f"Type {total} to confirm"
    assert not submit.is_enabled()
    confirm.send_keys(str(total - 1))
    assert not submit.is_enabled()
    assert browser.text("#bulk-confirm-mismatch") == f"{total - 1} does not match: type {total} to confirm."
    assert confirm.get_attribute("aria-invalid") == "true"
    browser.find("#bulk-reason").send_keys("INC-2041 phones lost at offsite")
    browser.check_accessibility("bulk reset modal")
    browser.screenshot("bulk-reset-modal")
    browser.screenshot("bulk-reset-modal-phone", PHONE)

    # ...and the server holds the same line if the page is bypassed: refused, nothing changed.
    browser.driver.execute_script(
        "arguments[0].form.noValidate = true; arguments[0].disabled = false; arguments[0].click()", submit)
    browser.wait(lambda d: "Type the number of selected members" in browser.text())
    assert f"({total})" in browser.text()
    assert server.scalar("SELECT count(*) FROM reset_batches") == 0
    assert all(server.mfa_status(e) == "enabled" for e in expected_reset)
    browser.check_accessibility("refused bulk reset")

    browser.open("/members?query=o&limit=25")
    browser.find("#select-page").click()
    browser.find("#selection-bar button").click()
    browser.find("#actions-button").click()
    browser.find("[data-bulk-reset]").click()
    dialog = browser.wait_for("#bulk-reset")
    browser.find("#bulk-reason").send_keys("INC-2041 phones lost at offsite")
    browser.find("#bulk-confirm").send_keys(str(total))
    submit = dialog.find_element("css selector", "[data-field=submit]")
    assert submit.is_enabled()
    submit.click()

    # Honest per-member results.
    browser.wait_for_path("/members/resets/")
    summary = browser.text("#summary")
    assert summary == f"{len(expected_reset)} reset · {len(expected_skipped)} skipped · {len(expected_failed)} failed"
    rows = {}
    order = []
    for row in browser.find_all("#results tbody tr"):
        cells = [c.text for c in row.find_elements("css selector", "td")]
        rows[cells[1]] = cells
        order.append(cells[2])
    assert set(rows) == {m["email"] for m in members}
    # Those that need attention first.
    assert order == ["Failed"] * len(expected_failed) + ["Skipped"] * len(expected_skipped) + [
        "Reset"] * len(expected_reset)
    assert all(rows[e][2] == "Reset" for e in expected_reset)
    assert all(rows[e][2:] == ["Skipped", "No MFA was set up"] for e in expected_skipped)
    assert all(rows[e][2:] == ["Failed", "Not permitted: Owner"] for e in expected_failed)
    browser.check_accessibility("bulk results page")
    browser.screenshot("bulk-results")
    browser.screenshot("bulk-results-phone", PHONE)

    # The server agrees, member by member.
    batch = server.query("SELECT * FROM reset_batches")
    assert len(batch) == 1
    batch = batch[0]
    assert (batch["status"], batch["total"], batch["background"]) == ("completed", total, 0)
    assert (batch["reset_count"], batch["skipped_count"], batch["failed_count"]) == (
        len(expected_reset), len(expected_skipped), len(expected_failed))
    assert all(server.mfa_status(e) == "reset_pending" and server.authenticators(e) == 0 for e in expected_reset)
    assert all(server.mfa_status(e) == "enabled" and server.authenticators(e) == 1 for e in expected_failed)
    events = server.audit("mfa.reset")
    assert sorted(e["target_email"] for e in events if e["result"] == "success") == sorted(expected_reset)
    assert sorted(e["target_email"] for e in events if e["result"] == "denied") == sorted(expected_failed)
    assert all(e["ticket"] == "INC-2041 phones lost at offsite" for e in events)

    # CSV: the same results, downloaded by the browser.
    browser.find("a[href$='results.csv']").click()
    lines = read_csv(browser.downloaded(".csv"))
    assert {line["email"]: line["result"] for line in lines} == {
        **{e: "reset" for e in expected_reset}, **{e: "skipped" for e in expected_skipped},
        **{e: "failed" for e in expected_failed}}
    assert {line["reason"] for line in lines if line["result"] == "failed"} == {"Not permitted: Owner"}

    # "Not permitted: Owner" answers the same every time: no retry is offered for it.
    assert browser.find_all("#retry-failed") == []
    assert "Retry" not in browser.text("main")

    # The Failed tab shows only the failed members.
    browser.find("#result-tabs a[href$='show=failed']").click()
    browser.wait(lambda d: "show=failed" in browser.path)
    assert {r.find_elements("css selector", "td")[1].text for r in browser.find_all("#results tbody tr")} == (
        expected_failed)
    assert browser.find("#result-tabs a[aria-current=page]").text.startswith("Failed")
    # The help desk role cannot read the audit log, so no link to it is offered.
    assert browser.find_all("#batch-audit") == []


def test_select_all_matching_is_refused_when_the_filter_matches_another_number(server, browser):
    enabled = [m for m in matching(server, "o") if m["mfa_status"] == "enabled"]
    total = len(enabled)
    assert total > 10
    browser.sign_in(HELPDESK)
    browser.open("/members?query=o&mfa=enabled&limit=10")
    browser.find("#select-page").click()
    browser.find("#selection-bar button").click()
    assert browser.text("#selection-bar").startswith(f"All {total} matching members are selected.")
    browser.find("#actions-button").click()
    browser.find("[data-bulk-reset]").click()
    browser.wait_for("#bulk-reset")
    if total > 25:
        browser.find("#bulk-confirm").send_keys(str(total))
    # Meanwhile one of the matching members no longer matches (here: changed straight in the database).
    changed = next(m for m in enabled if m["role"] != "Owner")
    server.execute("UPDATE members SET mfa_status = 'not_set_up' WHERE email = ?", changed["email"])
    browser.find("#bulk-reset [data-field=submit]").click()
    browser.wait_for(".alert-error")
    assert browser.alert_text() == ("Nothing was changed: the members matching your filter changed after you "
                                    "confirmed. Check the selection and confirm again.")
    assert "notice" not in browser.driver.current_url
    assert server.scalar("SELECT count(*) FROM reset_batches") == 0
    assert server.audit("mfa.reset") == []
    assert all(server.mfa_status(m["email"]) == "enabled" for m in enabled if m is not changed)
