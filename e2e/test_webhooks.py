"""An Owner registers a webhook endpoint on the Webhooks page: a loopback target is refused in words, a public one
is registered with its signing secret shown once, the endpoint's page shows its delivery log, and Disable
and Delete do what they say — each step checked in the database and with axe."""

OWNER = "owner@acme.test"


def test_register_see_disable_and_delete_an_endpoint(server, browser):
    browser.sign_in(OWNER)
    browser.find(".sidenav a[href='/webhooks']").click()
    browser.wait_for_path("/webhooks")
    assert browser.find("#no-webhooks").text == "No endpoints yet."
    browser.check_accessibility("Webhooks page")
    browser.find("#webhook-url").send_keys("https://127.0.0.1/hooks")
    browser.find("form[action='/webhooks'] button[type=submit]").click()
    assert "loopback" in browser.wait_for(".alert").text
    assert server.query("SELECT id FROM webhook_endpoints") == []

    url = browser.find("#webhook-url")
    url.clear()
    url.send_keys("https://93.184.215.14/hooks/latchkey")
    browser.find("#webhook-description").send_keys("Security team's SIEM")
    browser.find("form[action='/webhooks'] button[type=submit]").click()
    secret = browser.wait_for("#webhook-secret").text
    assert secret.startswith("whsec_") and "shown only this once" in browser.text("main")
    browser.screenshot("webhooks")
    browser.check_accessibility("Webhooks page with a new endpoint")
    [row] = server.query("SELECT id, url, event_types, secret_sealed FROM webhook_endpoints")
    assert row["url"] == "https://93.184.215.14/hooks/latchkey" and row["event_types"] == "*"
    assert secret not in row["secret_sealed"]

    browser.find("#webhooks-table a").click()
    browser.wait_for("#deliveries-heading")
    # Its own webhook.created may already be queued (it receives every event, from its registration on).
    assert "All events" in browser.text("main")
    browser.screenshot("webhook-deliveries")
    browser.check_accessibility("Webhook page")
    browser.find("form[action$='/disable'] button").click()
    assert "Endpoint disabled" in browser.wait_for(".alert").text
    assert server.query("SELECT disabled_at FROM webhook_endpoints")[0]["disabled_at"] is not None
    browser.find("form[action$='/delete'] button").click()
    browser.wait_for_path("/webhooks")
    assert "Endpoint deleted" in browser.find(".alert").text
    assert server.query("SELECT id FROM webhook_endpoints") == []
    actions = [r["action"] for r in server.query(
        "SELECT action FROM audit_events WHERE action LIKE 'webhook.%' ORDER BY seq")]
    assert actions == ["webhook.created", "webhook.disabled", "webhook.deleted"]
