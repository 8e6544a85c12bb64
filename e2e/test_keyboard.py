"""Keyboard only: the ⋮ menu and both modals open from the keyboard, keep focus inside, close on Escape
and give focus back to what opened them. Focus is always visible."""

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

ADMIN = "admin@acme.test"
JANE = "jane.doe@acme.test"


def press(browser, *keys):
    ActionChains(browser.driver).send_keys(*keys).perform()


def shift_tab(browser):
    ActionChains(browser.driver).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()


def tab_to(browser, matches, backwards=False, limit=120):
    for _ in range(limit):
        shift_tab(browser) if backwards else press(browser, Keys.TAB)
        if matches(browser.active()):
            return browser.active()
    raise AssertionError("never reached the control with the keyboard")


def focus_is_visible(browser):
    style = browser.driver.execute_script(
        "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth];")
    return style[0] != "none" and style[1] not in ("0px", "")


def inside(browser, dialog_id):
    return browser.driver.execute_script(
        "return document.getElementById(arguments[0]).contains(document.activeElement)", dialog_id)


def test_menus_and_modals_work_from_the_keyboard(server, browser):
    browser.sign_in(ADMIN)
    browser.open("/members?query=jane")
    jane_menu = f"menu-{server.member_id(JANE).lower()}"

    # Tab to Jane's ⋮ button; the focus ring shows where we are.
    button = tab_to(browser, lambda e: e.get_attribute("id") == jane_menu)
    assert focus_is_visible(browser)

    # Enter opens the menu with its first item focused; Escape closes it and returns to the button.
    press(browser, Keys.ENTER)
    assert button.get_attribute("aria-expanded") == "true"
    assert browser.active().get_attribute("role") == "menuitem" and browser.active().text == "Reset MFA"
    assert focus_is_visible(browser)
    press(browser, Keys.ESCAPE)
    assert button.get_attribute("aria-expanded") == "false"
    assert browser.active().get_attribute("id") == jane_menu

    # ArrowDown opens it too; Enter on the item opens the single-member modal with focus inside it.
    press(browser, Keys.ARROW_DOWN)
    assert browser.active().text == "Reset MFA"
    press(browser, Keys.ENTER)
    browser.wait_for("#single-reset")
    assert inside(browser, "single-reset")
    # Focus stays inside while tabbing forwards and backwards, past the ends.
    for _ in range(8):
        press(browser, Keys.TAB)
        assert inside(browser, "single-reset"), browser.active().get_attribute("outerHTML")
        assert focus_is_visible(browser)
    for _ in range(8):
        shift_tab(browser)
        assert inside(browser, "single-reset"), browser.active().get_attribute("outerHTML")
    # Escape closes it, changes nothing, and focus is back on the ⋮ button.
    press(browser, Keys.ESCAPE)
    browser.wait(lambda d: not browser.find("#single-reset").is_displayed())
    assert browser.active().get_attribute("id") == jane_menu
    assert server.mfa_status(JANE) == "enabled"

    # The bulk modal: Space ticks Jane's checkbox, then back up to Actions.
    checkbox = tab_to(browser, lambda e: "row-check" in (e.get_attribute("class") or ""), backwards=True)
    assert checkbox.get_attribute("value") == server.member_id(JANE).lower()
    press(browser, Keys.SPACE)
    assert checkbox.is_selected()
    actions = tab_to(browser, lambda e: e.get_attribute("id") == "actions-button", backwards=True)
    assert actions.is_enabled() and focus_is_visible(browser)
    press(browser, Keys.ENTER)
    assert browser.active().get_attribute("data-bulk-reset") is not None
    press(browser, Keys.ENTER)
    dialog = browser.wait_for("#bulk-reset")
    assert "Reset MFA for 1 member?" in dialog.text
    assert "MFA will be reset for the 1 selected member:" in dialog.text
    assert inside(browser, "bulk-reset")
    for _ in range(6):
        press(browser, Keys.TAB)
        assert inside(browser, "bulk-reset"), browser.active().get_attribute("outerHTML")
    for _ in range(6):
        shift_tab(browser)
        assert inside(browser, "bulk-reset"), browser.active().get_attribute("outerHTML")
    press(browser, Keys.ESCAPE)
    browser.wait(lambda d: not browser.find("#bulk-reset").is_displayed())
    assert browser.active().get_attribute("id") == "actions-button"
    assert server.mfa_status(JANE) == "enabled"
    assert server.scalar("SELECT count(*) FROM reset_batches") == 0
