"""The console's finish: a single reset's message is shown once (never from the URL) and highlights the row, the
dialog opens on Cancel; a running job shows its share and time left, can be cancelled between chunks, and its
results offer a retry that keeps the ticket and asks for a code when the step-up window has lapsed; the poller
stops once the session is gone; the audit log reads in words, pages both ways and opens each event; the phone
header names who is signed in; My security says what each code is for, names devices and signs out the rest."""

import time

from latchkey_e2e import DESKTOP, PHONE

ADMIN = "admin@acme.test"
OWNER = "owner@acme.test"
JANE = "jane.doe@acme.test"


def test_single_reset_message_once_row_highlighted_focus_on_cancel(server, browser):
    browser.sign_in(ADMIN)
    browser.open("/members?query=jane")
    jane_id = server.member_id(JANE).lower()
    button, menu = browser.open_row_menu(JANE)
    # The menu floats over the table without covering the row's Last sign-in text.
    last = browser.find(f"tr[data-member-id='{jane_id}'] .col-last").rect
    placed = menu.rect
    assert placed["y"] >= last["y"] + last["height"] - 1 or placed["y"] + placed["height"] <= last["y"] + 1
    menu.find_element("css selector", "[data-reset-member]").click()
    dialog = browser.wait_for("#single-reset")
    # Focus starts on the least destructive choice.
    assert browser.active().get_attribute("data-close") is not None
    assert browser.active().text == "Cancel"
    browser.check_accessibility_at_both_sizes("single reset modal")
    dialog.find_element("css selector", "#single-reason").send_keys("INC-9 lost phone")
    dialog.find_element("css selector", "button[type=submit]").click()

    toast = browser.wait_for(".toast")
    assert toast.get_attribute("role") == "status"
    assert browser.alert_text() == "MFA reset for Jane Doe. They will set it up again at next sign-in."
    assert "notice" not in browser.driver.current_url and "member=" not in browser.driver.current_url
    assert browser.find(f"tr[data-member-id='{jane_id}']").get_attribute("class") == "row-changed"
    browser.check_accessibility_at_both_sizes("members page with a toast")
    browser.screenshot("single-reset-done")
    browser.screenshot("single-reset-done-phone", PHONE)
    # Dismissible.
    toast.find_element("css selector", "[data-dismiss-toast]").click()
    assert browser.find_all(".toast") == []
    # A reload, or the same address elsewhere, shows no message and no highlight.
    browser.driver.refresh()
    browser.wait_for("#members-table")
    assert browser.find_all(".toast") == [] and browser.find_all("tr.row-changed") == []
    browser.open("/members?query=jane&notice=reset&member=" + jane_id)
    assert browser.find_all(".toast") == []
    assert server.mfa_status(JANE) == "reset_pending"
    assert [e["ticket"] for e in server.audit("mfa.reset", target=JANE)] == ["INC-9 lost phone"]


def start_job(server, browser, reason):
    total = server.scalar(
        "SELECT count(*) FROM members m JOIN organizations o ON o.id = m.organization_id WHERE o.slug = 'acme'")
    browser.open("/members")
    browser.find("#select-page").click()
    browser.find("#selection-bar button").click()
    browser.find("#actions-button").click()
    browser.find("[data-bulk-reset]").click()
    browser.wait_for("#bulk-reset")
    browser.find("#bulk-reason").send_keys(reason)
    browser.find("#bulk-confirm").send_keys(str(total))
    browser.find("#bulk-reset [data-field=submit]").click()
    browser.wait_for("#job-progress")
    return total, browser.path.split("/")[3].upper()


def test_cancel_stops_a_job_and_the_retry_keeps_its_ticket_and_asks_for_a_code(server, browser, phone):
    browser.sign_in(ADMIN)
    total, batch = start_job(server, browser, "INC-3001 offsite")
    # Share done and time left, updated by the poller.
    browser.wait(lambda d: browser.text("#job-eta").endswith("left") and "estimating" not in browser.text("#job-eta"),
                 timeout=20)
    assert browser.text("#job-percent").endswith("%")
    browser.check_accessibility_at_both_sizes("job page")
    browser.screenshot("job-progress")
    browser.screenshot("job-progress-phone", PHONE)

    browser.find("#cancel-job").click()
    # The chunk under way finishes; then the results show what was and was not done.
    browser.wait_for("#summary", timeout=30)
    job = server.query("SELECT * FROM reset_batches WHERE id = ?", batch)[0]
    assert job["status"] == "cancelled" and 0 < job["processed"] < total and job["processed"] % 20 == 0
    not_done = total - job["processed"]
    assert browser.text("h1") == "MFA reset results (cancelled)"
    assert browser.text("#summary").endswith(f"· {not_done} not done")
    assert f"nothing was changed for the {not_done} it did not reach" in browser.text("#cancelled-note")
    untouched = server.query("SELECT member_id, member_email, code FROM reset_results WHERE batch_id = ? AND "
                             "status = 'not_done'", batch)
    assert len(untouched) == not_done and {r["code"] for r in untouched} == {"cancelled"}
    assert all(server.authenticators(r["member_email"]) == 1 for r in untouched
               if server.mfa_status(r["member_email"]) == "enabled")
    assert len(server.audit("mfa.reset_job_cancelled")) == 1
    browser.find("#result-tabs a[href$='show=not_done']").click()
    browser.wait(lambda d: "show=not_done" in browser.path)
    assert {c.text for c in browser.find_all("#results tbody td:nth-child(3)")} == {"Not done"}
    browser.check_accessibility_at_both_sizes("cancelled job results")
    browser.screenshot("job-cancelled")

    # The step-up window lapses before the retry: the form asks for a code right there.
    server.execute("UPDATE sessions SET mfa_verified_at = 0 WHERE member_id = ?", server.member_id(ADMIN))
    browser.driver.refresh()
    retry = browser.find("#retry-failed")
    retryable = server.scalar(
        "SELECT count(*) FROM reset_results WHERE batch_id = ? AND code IN ('cancelled', 'not_permitted')", batch)
    assert retry.text == f"Retry {retryable} members"
    code = browser.find("#retry-code")
    # A wrong code comes back to these results, the context kept.
    code.send_keys(phone.wrong_code(server.accounts[ADMIN]["totpSecret"]))
    retry.click()
    browser.wait_for(".alert-error")
    assert browser.path.startswith(f"/members/resets/{batch.lower()}")
    assert browser.alert_text() == "Couldn't reset MFA: that authentication code is not correct."
    assert server.scalar("SELECT count(*) FROM reset_batches") == 1
    browser.find("#retry-code").send_keys(phone.code(server.accounts[ADMIN]["totpSecret"]))
    browser.find("#retry-failed").click()
    browser.wait(lambda d: batch.lower() not in browser.path, timeout=10)
    second = server.query("SELECT * FROM reset_batches WHERE id != ?", batch)[0]
    assert second["total"] == retryable and second["reason"] == "INC-3001 offsite"

    browser.wait_for("#summary", timeout=60)
    events = [e for e in server.audit("mfa.reset") if e["batch_id"] == second["id"]]
    assert len(events) == retryable and all(e["ticket"] == "INC-3001 offsite" for e in events)
    # The batch's audit events are one click away.
    browser.find("#batch-audit").click()
    browser.wait(lambda d: "batch=" in browser.path)
    assert second["id"].lower() in browser.text("#batch-filter")
    assert len(browser.find_all("#audit-table tbody tr")) == min(50, retryable)

    # Another job; while it runs the session ends: the poller says so and stops asking.
    total, third = start_job(server, browser, "INC-3002")
    server.execute("DELETE FROM sessions WHERE member_id = ?", server.member_id(ADMIN))
    browser.wait(lambda d: "Your session has ended" in browser.text("#job-status"), timeout=15)
    assert browser.find("#job").get_attribute("data-stopped") == "true"
    log_size = server.log_path.stat().st_size
    time.sleep(3)
    polls = server.log_path.read_text()[log_size:].count("route=/api/v1/mfa-reset-jobs/{id} ")
    assert polls == 0, f"the poller kept asking after a 401 ({polls} requests)"


def test_audit_log_labels_pages_both_ways_and_opens_an_event(server, browser):
    browser.sign_in(OWNER)
    browser.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
    browser.open("/audit?limit=2")
    rows = browser.find_all("#audit-table tbody tr")
    assert len(rows) == 2
    assert "Password sign-in" in browser.text("#audit-table") or "MFA sign-in" in browser.text("#audit-table")
    assert "Success" in browser.text("#audit-table")
    # In the reader's time zone, with UTC kept in the title.
    stamp = browser.find("#audit-table time")
    assert stamp.get_attribute("title").endswith(" UTC") and stamp.text.endswith("GMT+9"), stamp.text
    assert "your time zone (Asia/Tokyo)" in browser.text("#time-zone-note")
    first_page = [r.text for r in rows]
    browser.find("a[rel=next]").click()
    browser.wait(lambda d: "cursor=" in browser.path)
    second_page = [r.text for r in browser.find_all("#audit-table tbody tr")]
    assert second_page and not set(second_page) & set(first_page)
    browser.find("a[rel=next]").click()
    browser.wait(lambda d: browser.find_all("a[rel=prev]"))
    browser.find("a[rel=prev]").click()  # Newer
    browser.wait(lambda d: "newer=" in browser.path)
    assert [r.text for r in browser.find_all("#audit-table tbody tr")] == second_page
    browser.find(".pager a:not([rel])").click()  # « Newest
    browser.wait(lambda d: "newer=" not in browser.path and "cursor=" not in browser.path)
    assert [r.text for r in browser.find_all("#audit-table tbody tr")] == first_page
    browser.check_accessibility_at_both_sizes("audit log")
    browser.screenshot("audit-log")
    browser.screenshot("audit-log-phone", PHONE)

    # One event in full: the request it came from, the device in words, its place in the chain.
    sign_in = server.audit("auth.mfa", result="success")[-1]
    browser.open("/audit?action=auth.mfa&limit=1")
    browser.find("#audit-table tbody a[href^='/audit/events/']").click()
    browser.wait_for("#event")
    page = browser.text("#event")
    assert "MFA sign-in" in page and "auth.mfa" in page
    assert sign_in["request_id"] in page and sign_in["ip"] in page
    assert "Headless Chrome on Linux" in page
    browser.check_accessibility_at_both_sizes("audit event")
    browser.screenshot("audit-event")
    # Another organization's event is not found.
    other = server.scalar("SELECT e.id FROM audit_events e JOIN organizations o ON o.id = e.organization_id "
                          "WHERE o.slug != 'acme' LIMIT 1")
    assert other, "the demo's Globex has audit events"
    browser.open(f"/audit/events/{other.lower()}")
    assert "No such audit event." in browser.text("main")


def test_phone_header_names_who_is_signed_in(server, browser):
    browser.sign_in(ADMIN)
    browser.set_viewport(PHONE)
    try:
        browser.open("/members")
        name = browser.find(".account-name")
        assert name.is_displayed()
        assert name.text == f"{server.member(ADMIN)['name']} · Admin"
        assert name.rect["x"] + name.rect["width"] <= PHONE[0]
    finally:
        browser.set_viewport(DESKTOP)
    browser.screenshot("members-phone", PHONE)


def test_my_security_codes_devices_and_signing_out_the_rest(server, browsers):
    phone_browser = browsers()
    desk = browsers()
    phone_browser.sign_in(ADMIN)
    desk.sign_in(ADMIN)
    desk.open("/security")
    labels = [l.text for l in desk.find_all("label[for^=current-code-]")]
    assert len(labels) == len(set(labels)) == 3, labels
    devices = [c.text for c in desk.find_all("section[aria-labelledby=sessions-heading] tbody td:nth-child(4)")]
    assert devices and all(d == "Headless Chrome on Linux" for d in devices)
    assert server.sessions(ADMIN) == 2
    desk.check_accessibility_at_both_sizes("my security")
    desk.screenshot("my-security")
    desk.find("#revoke-others").click()
    desk.wait_for(".toast")
    assert desk.alert_text() == "You were signed out everywhere else. Only this session is still signed in."
    assert server.sessions(ADMIN) == 1
    assert [e["reason"] for e in server.audit("session.revoked")] == ["1 other session signed out"]
    # The other browser is signed out; this one is not.
    phone_browser.open("/security")
    phone_browser.wait_for_path("/login")
    desk.open("/security")
    assert desk.path == "/security"
    assert desk.find_all("#revoke-others") == []
