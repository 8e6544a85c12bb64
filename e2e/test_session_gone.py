"""The reset member's open session ends: their next click signs them out, and their next sign-in goes to
enrollment."""


JANE = "jane.doe@acme.test"


def test_reset_members_session_is_gone_at_their_next_click(server, browsers):
    jane = browsers()
    jane.sign_in(JANE)
    jane.open("/security")
    assert server.sessions(JANE) == 1

    admin = browsers()
    admin.sign_in("admin@acme.test")
    admin.open("/members?query=jane")
    _, menu = admin.open_row_menu(JANE)
    menu.find_element("css selector", "[data-reset-member]").click()
    admin.wait_for("#single-reset")
    admin.find("#single-reset button[type=submit]").click()
    admin.wait_for(".alert-success")
    assert server.scalar("SELECT count(*) FROM sessions WHERE member_id = ?", server.member_id(JANE)) == 0

    # Jane's next click, in the page she already had open.
    jane.find(".sidenav a[href='/']").click()
    jane.wait_for_path("/login")
    assert jane.find_all("#email")

    # Her password alone now leads to setting up MFA again.
    jane.sign_in_password(JANE)
    jane.wait_for_path("/enroll")
    assert "Set up your authenticator app" in jane.text("h1")
    assert server.mfa_status(JANE) == "reset_pending"
