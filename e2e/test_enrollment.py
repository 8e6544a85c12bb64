"""Forced enrollment: a member with no MFA in an organization that requires it scans the QR code with a
real phone (zbarimg reads it out of a screenshot, oathtool computes the code), sees the recovery codes
once, and can later sign in with one of them."""

import re
import urllib.parse

from latchkey_e2e import PHONE, decode_qr

SAM = "sam.lee@acme.test"


def test_forced_enrollment_then_recovery_code_sign_in(server, browser, tmp_path):
    assert server.mfa_status(SAM) == "not_set_up"
    browser.sign_in_password(SAM)

    # Acme requires MFA: straight to setup, nothing else reachable.
    browser.wait_for_path("/enroll")
    assert "Your organization requires multi-factor authentication" in browser.text()
    browser.check_accessibility("enrollment page")
    browser.screenshot("enrollment", (1280, 1000))
    browser.screenshot("enrollment-phone", PHONE)
    browser.open("/members")
    browser.wait_for_path("/enroll")

    # The phone's camera: the QR code in a screenshot decodes to the otpauth URI the page shows.
    qr = browser.find(".qr-frame")
    browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", qr)
    shot = tmp_path / "qr.png"
    qr.screenshot(str(shot))
    uri = decode_qr(shot)
    assert uri.startswith("otpauth://totp/")
    query = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)
    secret = query["secret"][0]
    assert secret == browser.text("#secret").replace(" ", "")
    assert query["digits"] == ["6"] and query["period"] == ["30"] and query["algorithm"] == ["SHA1"]
    assert SAM in urllib.parse.unquote(uri)
    # The secret is stored encrypted, never as the Base32 text the phone got.
    stored = server.query("SELECT * FROM totp_credentials WHERE member_id = ?", server.member_id(SAM))
    assert len(stored) == 1 and not stored[0]["confirmed"]
    assert secret not in stored[0]["secret_ciphertext"]

    # A wrong code keeps the member on the setup page.
    browser.enter_code(browser.phone.wrong_code(secret))
    browser.wait_for("[role=alert]")
    assert "not correct" in browser.alert_text()
    assert server.mfa_status(SAM) == "not_set_up"

    browser.enter_code(browser.phone.code(secret))
    browser.wait_for("#recovery-codes")
    codes = [c.text for c in browser.find_all("#recovery-codes code")]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z0-9]{4,5}(-[a-z0-9]{4,5})+", c) for c in codes), codes
    browser.check_accessibility("recovery codes page")
    browser.screenshot("recovery-codes")
    assert server.mfa_status(SAM) == "enabled"
    assert server.scalar("SELECT confirmed FROM totp_credentials WHERE member_id = ?", server.member_id(SAM)) == 1
    assert server.recovery_codes(SAM, unused_only=True) == 10
    stored_hashes = [r["code_hash"] for r in server.query(
        "SELECT code_hash FROM recovery_codes WHERE member_id = ?", server.member_id(SAM))]
    assert not any(code in h or code.replace("-", "") in h for code in codes for h in stored_hashes)
    # The wrong code above is on the record too.
    assert [e["result"] for e in server.audit("mfa.enrolled", target=SAM)] == ["failure", "success"]

    # Continue is enabled only after confirming the codes are saved.
    continue_button = browser.find("#continue")
    assert not continue_button.is_enabled()
    browser.find("input[name=saved]").click()
    assert continue_button.is_enabled()
    continue_button.click()
    browser.wait_for_path("/")
    assert browser.path == "/"

    # Shown once: going back to the codes does not show them again.
    browser.open("/enroll/recovery-codes")
    assert not any(code in browser.text() for code in codes)
    browser.check_accessibility("recovery codes page revisited")

    # Later, without the phone: sign in with a recovery code.
    browser.sign_out()
    browser.sign_in_password(SAM)
    browser.wait_for_path("/login/mfa")
    browser.find("a[href='/login/recovery']").click()
    browser.wait_for_path("/login/recovery")
    browser.check_accessibility("recovery code page")
    browser.find("#recoveryCode").send_keys(codes[3])
    browser.find("form[action='/login/recovery'] button[type=submit]").click()
    browser.wait_for_path("/")
    assert browser.path == "/"
    assert server.recovery_codes(SAM, unused_only=True) == 9
    assert server.sessions(SAM) == 1
    assert [e["result"] for e in server.audit("auth.recovery_code", target=SAM)] == ["success"]

    # Each recovery code works once.
    browser.sign_out()
    browser.sign_in_password(SAM)
    browser.wait_for_path("/login/mfa")
    browser.open("/login/recovery")
    browser.find("#recoveryCode").send_keys(codes[3])
    browser.find("form[action='/login/recovery'] button[type=submit]").click()
    browser.wait_for("[role=alert]")
    assert browser.path.startswith("/login/recovery")
    assert server.sessions(SAM) == 0
    assert server.recovery_codes(SAM, unused_only=True) == 9
