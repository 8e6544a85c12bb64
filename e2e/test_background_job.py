"""A selection above the synchronous limit runs as a background job; its progress page survives a reload
and turns into the results when the job is done. (The suite's server works in chunks of 20 with a pause,
LATCHKEY_JOB_CHUNK_SIZE / LATCHKEY_JOB_CHUNK_PAUSE_MS, so the progress can be watched.)"""


from latchkey_e2e import PHONE

ADMIN = "admin@acme.test"


def progress(browser):
    bar = browser.find("#job-progress")
    return int(bar.get_attribute("value")), int(bar.get_attribute("max"))


def test_large_selection_runs_as_a_job_with_progress_that_survives_reload(server, browser):
    total = server.scalar(
        "SELECT count(*) FROM members m JOIN organizations o ON o.id = m.organization_id WHERE o.slug = 'acme'")
    assert total > 200
    browser.sign_in(ADMIN)
    browser.open("/members")
    browser.find("#select-page").click()
    link = browser.find("#selection-bar button")
    assert link.text == f"Select all {total} members that match"
    link.click()
    browser.find("#actions-button").click()
    browser.find("[data-bulk-reset]").click()
    dialog = browser.wait_for("#bulk-reset")
    assert f"MFA will be reset for all {total} selected members" in dialog.text
    browser.find("#bulk-confirm").send_keys(str(total))
    browser.find("#bulk-reset [data-field=submit]").click()

    browser.wait_for_path("/members/resets/")
    batch_id = browser.path.split("/")[3].upper()
    browser.wait_for("#job-progress")
    assert browser.text("h1") == "Resetting MFA"
    done, maximum = progress(browser)
    assert maximum == total and done < total
    assert browser.text("#job-count") == f"{done} of {total} members"
    assert browser.text("#job-percent") == f"{done * 100 // total}%"
    browser.check_accessibility("background job progress page")
    job = server.query("SELECT * FROM reset_batches WHERE id = ?", batch_id)[0]
    assert job["background"] == 1 and job["status"] == "running"

    # The page polls: the bar moves without a reload.
    browser.wait(lambda d: progress(browser)[0] > done, timeout=15)
    browser.screenshot("job-progress")
    browser.screenshot("job-progress-phone", PHONE)
    # A reload (or leaving and coming back) finds the job still running, further along.
    before = progress(browser)[0]
    browser.driver.refresh()
    browser.wait_for("#job-progress")
    after, _ = progress(browser)
    assert after >= before and after < total
    assert server.scalar("SELECT status FROM reset_batches WHERE id = ?", batch_id) == "running"
    assert 0 < server.scalar("SELECT processed FROM reset_batches WHERE id = ?", batch_id) < total

    # Done: the same address shows the results.
    browser.wait_for("#summary", timeout=60)
    job = server.query("SELECT * FROM reset_batches WHERE id = ?", batch_id)[0]
    assert (job["status"], job["processed"]) == ("completed", total)
    assert browser.text("#summary") == (
        f"{job['reset_count']} reset · {job['skipped_count']} skipped · {job['failed_count']} failed")
    assert job["failed_count"] == 2  # the administrator's own row and the Owner's
    assert job["reset_count"] + job["skipped_count"] + job["failed_count"] == total
    # A page of 100 at a time, those that need attention first.
    assert len(browser.find_all("#results tbody tr")) == 100
    assert [r.text for r in browser.find_all("#results tbody tr td:nth-child(3)")][:2] == ["Failed", "Failed"]
    assert server.scalar("SELECT count(*) FROM reset_results WHERE batch_id = ? AND status = 'pending'", batch_id) == 0
    assert server.scalar(
        """SELECT count(*) FROM totp_credentials c JOIN members m ON m.id = c.member_id
           JOIN organizations o ON o.id = m.organization_id WHERE o.slug = 'acme'""") == 2
    assert len(server.audit("mfa.reset", result="success")) == job["reset_count"]
    # The owners' summary mail went out once the job finished.
    assert any("reset" in m["subject"].lower() for m in server.mail_to("owner@acme.test"))
