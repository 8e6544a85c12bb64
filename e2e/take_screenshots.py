"""Walks the seed article's flows in headless Chromium against a running demo and saves screenshots.

    scripts/demo --port 8080 --credentials-file creds.json &
    python3 e2e/take_screenshots.py http://127.0.0.1:8080 creds.json docs/screenshots

Needs chromium, chromium-driver, oathtool and the selenium package (scripts/bootstrap e2e).
"""
import json
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

base, credentials_file, out = sys.argv[1], sys.argv[2], sys.argv[3]
creds = {c["email"]: c for c in json.load(open(credentials_file))}
options = webdriver.ChromeOptions()
for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"]:
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def shot(name, width=1280, height=800):
    driver.set_window_size(width, height)
    time.sleep(0.3)
    driver.save_screenshot(f"{out}/{name}.png")


def sign_in(email, screenshot=None):
    driver.delete_all_cookies()
    driver.get(base + "/login")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(creds[email]["password"])
    if screenshot:
        shot(screenshot)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    secret = creds[email].get("totpSecret")
    if secret:
        code = subprocess.check_output(["oathtool", "--totp", "-b", secret]).decode().strip()
        driver.find_element(By.ID, "code").send_keys(code)
        driver.find_element(By.CSS_SELECTOR, "form[action='/login/mfa'] button").click()


sign_in("sam.lee@acme.test", screenshot="sign-in")
shot("enrollment", 1280, 1000)
sign_in("admin@acme.test")
driver.get(base + "/members?query=doe")
rows = driver.find_elements(By.CSS_SELECTOR, "[data-row-menu]")
target = next(b for b in rows if "Jane Doe" in b.get_attribute("aria-label"))
driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", target)
target.click()
shot("members-menu")
driver.switch_to.active_element.click()
shot("single-reset-modal")
driver.find_element(By.CSS_SELECTOR, "#single-reset button[type=submit]").click()
shot("single-reset-done")
driver.get(base + "/members")
for box in driver.find_elements(By.CSS_SELECTOR, ".row-check")[2:14]:
    box.click()
driver.find_element(By.ID, "actions-button").click()
driver.find_element(By.CSS_SELECTOR, "[data-bulk-reset]").click()
driver.find_element(By.ID, "bulk-reason").send_keys("INC-2041 phones lost at offsite")
shot("bulk-reset-modal")
driver.find_element(By.CSS_SELECTOR, "#bulk-reset [data-field=submit]").click()
shot("bulk-results")
driver.get(base + "/audit?action=mfa.reset")
shot("audit-log")
driver.get(base + "/mailbox")
shot("mailbox")
driver.get(base + "/members")
shot("members-phone", 390, 844)
driver.quit()
