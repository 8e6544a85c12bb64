"""An Owner creates a custom role on the Roles page, ticking only permissions their role holds, and finds it
in the table with its permissions; an Admin has no Roles page."""

OWNER = "owner@acme.test"
ADMIN = "admin@acme.test"


def test_an_owner_creates_a_role(server, browsers):
    owner = browsers()
    owner.sign_in(OWNER)
    owner.find(".sidenav a[href='/roles']").click()
    owner.wait_for_path("/roles")
    names = [r.find_element("css selector", "td").text for r in owner.find_all("#roles-table tbody tr")]
    assert any(n.startswith("Owner") for n in names) and any(n.startswith("Help desk") for n in names)
    owner.find("#new-role-name").send_keys("Auditor")
    owner.find("#new-audit-view").click()
    owner.find("#new-members-view").click()
    owner.check_accessibility("roles page")
    owner.find("form[action='/roles'] button[type=submit]").click()
    owner.wait_for(".alert-success")
    assert owner.alert_text() == "Role created."
    row = next(r for r in owner.find_all("#roles-table tbody tr") if r.find_element("css selector", "td").text == "Auditor")
    assert "audit.view" in row.text and "members.view" in row.text
    owner.screenshot("roles")
    [event] = server.audit("role.created")
    assert (event["result"], event["reason"]) == ("success", "Auditor: audit.view,members.view")

    admin = browsers()
    admin.sign_in(ADMIN)
    assert "Roles" not in admin.text(".sidenav")
    admin.open("/roles")
    assert "You do not have permission to do that." in admin.text("main")
