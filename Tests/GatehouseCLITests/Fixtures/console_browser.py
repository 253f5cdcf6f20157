#!/usr/bin/env python3
"""Clicks through the organization console of a running `gatehouse demo` in headless
Chromium (Debian's chromium and chromium-driver, driven by Selenium), the OU management
guide's flow: sign in, edit and save the profile, a plain member's refused edit, change the
owner to a user with an email address and to one without (the link read from the demo's
maildir and opened in the browser), cancel, accept, and the former owner's next click.
Also the cookies' flags and the forms' CSRF checks, from outside the browser.

usage: console_browser.py DEMO_JSON SCREENSHOT_DIR
Prints one line per check; exits 1 at the first that fails, saying what was seen.
"""
import email
import glob
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

demo = json.load(open(sys.argv[1]))
shots = sys.argv[2]
os.makedirs(shots, exist_ok=True)
base = demo["gateway"]
passwords = demo["passwords"]
users = demo["users"]


def check(condition, what, seen=""):
    if not condition:
        print(f"FAIL {what}: {seen}", flush=True)
        sys.exit(1)
    print(f"ok   {what}", flush=True)


options = webdriver.ChromeOptions()
options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,860", "--disable-gpu"]:
    options.add_argument(argument)
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
driver.set_page_load_timeout(20)
# A page being replaced can answer a lookup with errors other than "no such element"
# (a document or context that is going away): those are retried too, until the timeout.
wait = WebDriverWait(driver, 15, ignored_exceptions=[WebDriverException])


def shot(name):
    driver.save_screenshot(os.path.join(shots, name + ".png"))


def cookies():
    return {c["name"]: c for c in driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]}


def element(css):
    return wait.until(lambda d: d.find_element(By.CSS_SELECTOR, css))


def present(css):
    return len(driver.find_elements(By.CSS_SELECTOR, css)) > 0


def click(css):
    """Clicks what `css` finds and waits until the page it leads to has replaced this one."""
    page = driver.find_element(By.TAG_NAME, "html")
    element(css).click()
    wait.until(expected_conditions.staleness_of(page))


def path():
    return urllib.parse.urlsplit(driver.current_url).path


def sign_in(user, password):
    driver.delete_all_cookies()
    driver.get(base + "/console")
    element("#sign-in")
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    click("#sign-in")


def mail_link(recipient, after):
    """The newest confirmation link sent to `recipient` since `after` (file names are ordered by time)."""
    deadline = time.time() + 20
    while time.time() < deadline:
        for name in sorted(glob.glob(os.path.join(demo["maildir"], "new", "*")), key=os.path.getmtime, reverse=True):
            if os.path.getmtime(name) < after:
                continue
            message = email.message_from_bytes(open(name, "rb").read())
            if recipient not in message.get("To", ""):
                continue
            body = message.get_payload(decode=True).decode()
            for line in body.splitlines():
                if "/owner-transfer/confirm?token=" in line:
                    return line[line.index("http"):].strip()
        time.sleep(0.2)
    check(False, f"a confirmation email to {recipient}", "none arrived in 20 s")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def raw_post(path_, fields, cookie, extra_headers=None):
    """A form posted from outside the browser, its answer's status as sent (redirects not followed)."""
    request = urllib.request.Request(
        base + path_, data=urllib.parse.urlencode(fields).encode(), method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie, **(extra_headers or {})})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


try:
    # Sign-in page, its CSRF cookie's flags, and a wrong password.
    driver.get(base + "/console")
    element("#sign-in")
    check(path() == "/console/sign-in", "/console leads to the sign-in page", driver.current_url)
    shot("sign-in")
    csrf_cookie = cookies().get("gatehouse_csrf")
    check(csrf_cookie and csrf_cookie["httpOnly"] and csrf_cookie["sameSite"] == "Strict" and csrf_cookie["path"] == "/console"
          and not csrf_cookie["secure"], "the sign-in CSRF cookie is HttpOnly, SameSite=Strict, /console, not Secure over http",
          csrf_cookie)
    driver.find_element(By.ID, "user").send_keys("owner")
    driver.find_element(By.ID, "password").send_keys("not-the-password")
    click("#sign-in")
    check("incorrect" in element(".alert").text, "a wrong password is refused on the sign-in page", driver.page_source[:300])

    # A plain member: the profile read-only, and Edit refused by the policies.
    sign_in("member", passwords["member"])
    check(path() == "/console/profile", "member signs in to the profile", driver.current_url)
    check(not present("#edit") and not present("#change-owner"), "member sees no Edit and no Change")
    driver.get(base + "/console/profile/edit")
    check(element("#error-code").text == "Organizations.1007", "member's edit is refused by the policies (403 Organizations.1007)",
          driver.page_source[:400])
    shot("refused-edit")

    # The owner: cookie flags, CSRF from outside the browser, edit with errors, save.
    sign_in("owner", passwords["owner"])
    check(path() == "/console/profile" and element("#owner-name").text == "owner", "owner signs in to the profile")
    session = cookies().get("gatehouse_console")
    check(session and session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/console"
          and not session["secure"], "the session cookie is HttpOnly, SameSite=Strict, /console, not Secure over http", session)
    check(driver.execute_script("return document.cookie") == "", "page scripts cannot read the console's cookies")
    shot("profile")
    cookie = "gatehouse_console=" + session["value"]
    status, _ = raw_post("/console/profile", {"name": "Forged"}, cookie)
    check(status == 403, "a form without the CSRF token is refused (403)", status)
    status, _ = raw_post("/console/profile", {"name": "Forged", "csrf": "0" * 32}, cookie)
    check(status == 403, "a form with a wrong CSRF token is refused (403)", status)
    csrf = element("input[name=csrf]").get_attribute("value")
    status, _ = raw_post("/console/profile", {"name": "Forged", "csrf": csrf}, cookie, {"Sec-Fetch-Site": "cross-site"})
    check(status == 403, "a form the browser says came from another site is refused (403)", status)
    status, _ = raw_post("/console/profile", {"name": "Forged", "csrf": csrf}, "")
    check(status == 303, "a form without the session cookie is sent to sign in (303)", status)
    driver.refresh()
    check(element("#field-name").text != "Forged", "no forged form changed the profile", element("#field-name").text)

    click("#edit")
    element("#save")
    shot("edit")
    name = driver.find_element(By.ID, "name")
    name.clear()
    code = driver.find_element(By.ID, "organization_code")
    code.clear()
    code.send_keys("EC 2026!")
    click("#save")
    check("required" in element("#error-name").text, "Save without a name shows the error beside the name", driver.page_source[:300])
    check("letters, digits" in element("#error-organization_code").text, "a bad Organization ID shows its error beside the field")
    shot("edit-errors")
    driver.get(base + "/console/profile")
    check(element("#field-name").text == "Example Corp", "nothing was saved while a field was wrong", element("#field-name").text)
    click("#edit")
    for field, value in [("name", "Example Corp Europe"), ("organization_code", "EC-2026"), ("address", "1 Harbour Street, Dublin"),
                         ("business_license_number", "IE-6388047V"), ("industry", "Software")]:
        box = element("#" + field)
        box.clear()
        box.send_keys(value)
    Select(driver.find_element(By.ID, "country")).select_by_value("IE")
    Select(driver.find_element(By.ID, "scale")).select_by_value("100-499")
    click("#save")
    check("saved" in element(".notice").text, "Save shows the profile with a notice")
    check(element("#field-name").text == "Example Corp Europe" and element("#field-organization_code").text == "EC-2026"
          and element("#field-country").text == "IE", "the profile shows the saved fields")

    # Change owner to a user with an address, then cancel; the cancelled link says so.
    click("#change-owner")
    Select(element("#target")).select_by_value(users["dev_only"])
    shot("change-owner")
    started = time.time() - 1
    click("#confirm")
    check("confirmation email" in element(".notice").text and present("#pending-transfer"), "Confirm shows the pending transfer")
    check("dev_only" in element("#pending-transfer").text and "valid until" in element("#pending-transfer").text,
          "the pending transfer names the user and its expiry")
    shot("pending-transfer")
    cancelled_link = mail_link("dev@example.com", started)
    click("#cancel-transfer")
    check("cancelled" in element(".notice").text and not present("#pending-transfer"), "Cancel ends the pending transfer")
    driver.get(cancelled_link)
    check(element("#confirmation").get_attribute("data-outcome") == "cancelled", "the cancelled transfer's link says it was cancelled")
    shot("link-cancelled")

    # Change owner to a user without an address: the email field, the link there, accept.
    driver.get(base + "/console/owner/change")
    Select(element("#target")).select_by_value(users["new_hire"])
    click("#confirm")
    element("#email")
    check(not present("#pending-transfer"), "a user without an address is asked for one before anything starts")
    shot("change-owner-email")
    started = time.time() - 1
    driver.find_element(By.ID, "email").send_keys("new.hire@example.com")
    click("#confirm")
    check("new_hire" in element("#pending-transfer").text, "the transfer to new_hire is pending")
    link = mail_link("new.hire@example.com", started)
    check("/owner-transfer/confirm?token=ot_" in link, "the link went to the address entered")
    driver.get(link)
    check(element("#confirmation").get_attribute("data-outcome") == "pending", "the link opens the confirmation page")
    shot("confirm")
    click("#accept")
    check(element("#confirmation").get_attribute("data-outcome") == "accepted", "Accept makes new_hire the owner")
    shot("accepted")
    driver.get(link)
    check(element("#confirmation").get_attribute("data-outcome") == "used", "the link, opened again, says it was already used")
    shot("link-used")
    sign_in("new_hire", passwords["new_hire"])
    check(path() == "/console/profile" and element("#owner-name").text == "new_hire" and present("#edit") and present("#change-owner"),
          "new_hire, the owner now, has the owner's Edit and Change without any policy (the guide)", driver.page_source[:400])

    # The former owner's next click: the guide's "login expired", back to sign-in.
    driver.add_cookie({"name": "gatehouse_console", "value": session["value"], "path": "/console"})
    driver.get(base + "/console/profile")
    check(path() == "/console/sign-in" and "login has expired" in element(".alert").text,
          "the former owner's next click shows login expired and returns to sign-in", driver.current_url)
    check("gatehouse_console" not in cookies(), "the ended session's cookie is deleted")
    shot("login-expired")
    sign_in("owner", passwords["owner"])
    check(path() == "/console/profile" and element("#error-code").text == "Organizations.1007",
          "signed in again, the former owner has no permissions left (the guide)", driver.page_source[:400])
    check(not present("a[href='/console/profile']"), "the refused profile does not link back to itself")
    violations = [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]
    check(not violations, "no page broke its own Content-Security-Policy", violations)
    print("done", flush=True)
finally:
    driver.quit()
