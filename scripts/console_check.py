"""The web console in a real headless Chromium, against a live stack.

Run by scripts/console-check.sh, which starts moto, wharf-api and a worker
and sets WHARF_API_URL, WHARF_TOKEN (all scopes), READ_TOKEN (read only) and
WHARF_BIN. Tasks are submitted with the `wharf` CLI; everything else is done
in the browser and checked against the API: the task list and its filters,
a task page with its log, outputs (downloaded through their links and
checked against their SHA-256) and payload, cancel from a running task's
page, the workers and queues pages, sign-in by form and by URL fragment,
scopes, escaping, the Content-Security-Policy, and a 360 px wide screen.
"""

import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

API = os.environ["WHARF_API_URL"]
TOKEN = os.environ["WHARF_TOKEN"]
READ_TOKEN = os.environ["READ_TOKEN"]
WHARF = os.environ["WHARF_BIN"]
SHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS") or "target/console-check/screenshots")
XSS = "<script>window.__xss = 1</script><img src=x onerror=\"window.__xss = 2\">"


def wharf(*args):
    """Runs the CLI; its stdout."""
    done = subprocess.run([WHARF, *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def browser(width=1280, height=900):
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def until(driver, what, check, timeout=30):
    try:
        # Fragments are replaced as they refresh: an element read a moment
        # ago may be gone, which is not a failure.
        wait = WebDriverWait(driver, timeout, poll_frequency=0.2,
                             ignored_exceptions=[StaleElementReferenceException])
        return wait.until(lambda d: check(d))
    except TimeoutException:
        shot(driver, "failure")
        sys.exit(f"console-check: timed out waiting until {what} (page: {driver.current_url})")


def shot(driver, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def expect(condition, message):
    if not condition:
        sys.exit(f"console-check: {message}")


def no_policy_violations(driver):
    for entry in driver.get_log("browser"):
        expect("Content Security Policy" not in entry["message"], f"CSP violation: {entry['message']}")
        # Answers such as the 401 to a wrong token are logged as failed
        # loads; anything else severe is a script error.
        expect(entry["level"] != "SEVERE" or "Failed to load resource" in entry["message"],
               f"browser error: {entry['message']}")


def listed(driver):
    """The ids of the task list's rows, read at once."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#task-rows tr[data-id]')].map(r => r.dataset.id)")


def task_record(task_id):
    return json.loads(wharf("get", task_id, "--json"))


def main():
    hello = wharf("submit", "samples/hello-report.json")
    escaped = wharf("submit", "--name", "escaping", "--payload", json.dumps({"note": XSS}), "--", "true")
    long = wharf("submit", "--name", "long-runner", "--cmd", "echo started; sleep 120")
    wharf("wait", hello, "--timeout", "60")
    wharf("wait", escaped, "--timeout", "60")

    driver = browser()
    try:
        # Signed in by URL fragment: taken, kept in sessionStorage, cleared.
        driver.get(f"{API}/console#token={TOKEN}")
        until(driver, "the three tasks are listed", lambda d: len(listed(d)) == 3)
        expect(driver.execute_script("return location.hash") == "", "the token fragment was not cleared")
        expect(driver.execute_script("return sessionStorage.getItem('wharf.token')") == TOKEN,
               "the token is not in sessionStorage")
        expect(driver.get_cookies() == [], "the console set a cookie")
        row = driver.find_element(By.CSS_SELECTOR, f"#task-rows tr[data-id='{long}']")
        expect("long-runner" in row.text, f"the running task's row: {row.text}")
        shot(driver, "tasks")

        # A filter is a deep link.
        Select(driver.find_element(By.NAME, "status")).select_by_value("succeeded")
        driver.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
        until(driver, "only succeeded tasks are listed",
              lambda d: "status=succeeded" in d.current_url and set(listed(d)) == {hello, escaped})

        # A finished task's page: log, outputs through their links, payload.
        driver.find_element(By.LINK_TEXT, "hello-report").click()
        until(driver, "hello-report's page shows it succeeded",
              lambda d: d.find_elements(By.CSS_SELECTOR, "#task[data-status=succeeded]"))
        until(driver, "its log is shown", lambda d: "building the report" in d.find_element(By.ID, "log").text)
        links = driver.find_elements(By.CSS_SELECTOR, "#outputs tbody tr")
        expect(len(links) == 2, f"two outputs expected, {len(links)} shown")
        for output in links:
            href = output.find_element(By.TAG_NAME, "a").get_attribute("href")
            digest = output.find_element(By.CSS_SELECTOR, ".digest").text
            body = urllib.request.urlopen(href).read()
            expect(hashlib.sha256(body).hexdigest() == digest, f"{href}: not the bytes of SHA-256 {digest}")
        report = [o for o in links if "report.txt" in o.text][0]
        body = urllib.request.urlopen(report.find_element(By.TAG_NAME, "a").get_attribute("href")).read()
        expect(body.startswith(b"Wharf report"), f"report.txt: {body[:40]!r}")
        driver.find_element(By.CSS_SELECTOR, "#spec summary").click()
        expect('"day": "2026-11-22"' in driver.find_element(By.ID, "spec").text, "the payload is not shown")
        shot(driver, "task")

        # Hostile text in a payload is shown as text and never runs.
        driver.get(f"{API}/console/tasks/{escaped}")
        until(driver, "the escaping task's page is shown", lambda d: d.find_elements(By.CSS_SELECTOR, "#spec summary"))
        driver.find_element(By.CSS_SELECTOR, "#spec summary").click()
        expect("<script>window.__xss = 1</script>" in driver.find_element(By.ID, "spec").text,
               "the hostile payload is not shown as text")
        expect(driver.execute_script("return window.__xss") is None, "markup from a payload ran")

        # Cancel a running task from its page.
        until(driver, "long-runner runs", lambda d: task_record(long)["status"] == "running", timeout=60)
        driver.get(f"{API}/console/tasks/{long}")
        until(driver, "its live log is followed", lambda d: "started" in d.find_element(By.ID, "log").text)
        shot(driver, "task-running")
        driver.find_element(By.CSS_SELECTOR, "button[data-action=cancel]").click()
        driver.switch_to.alert.accept()
        until(driver, "the page shows it cancelled",
              lambda d: d.find_elements(By.CSS_SELECTOR, "#task[data-status=cancelled]"))
        expect(task_record(long)["status"] == "cancelled", "the API does not have it cancelled")

        # The worker, with drain for an admin token.
        worker = json.loads(wharf("workers", "--json"))[0]["id"]
        driver.get(f"{API}/console/workers")
        until(driver, "the worker is shown", lambda d: d.find_elements(By.CSS_SELECTOR, f".card[data-worker='{worker}']"))
        card = driver.find_element(By.CSS_SELECTOR, f".card[data-worker='{worker}']")
        expect("online" in card.text and "site=console-check" in card.text, f"worker card: {card.text}")
        expect(card.find_elements(By.CSS_SELECTOR, "button[data-action=drain]"), "no drain button for admin")
        expect(len(card.find_elements(By.TAG_NAME, "meter")) == 3, "CPU, memory and disk bars expected")
        shot(driver, "workers")

        # Queues, and the chart sampled by the page.
        driver.get(f"{API}/console/queues")
        until(driver, "the default queue and its chart are shown",
              lambda d: d.find_elements(By.CSS_SELECTOR, "#queues tr[data-queue=default]")
              and d.find_elements(By.CSS_SELECTOR, "#charts figure svg polyline"))
        time.sleep(6)  # a second sample draws a line
        shot(driver, "queues")
        no_policy_violations(driver)

        # Sign out; a wrong token is refused; a read-only token sees no
        # buttons that would need more.
        driver.find_element(By.ID, "sign-out").click()
        expect(driver.execute_script("return sessionStorage.getItem('wharf.token')") is None, "still signed in")
        driver.get(f"{API}/console/tasks/{hello}")
        driver.find_element(By.ID, "token").send_keys("not-a-token")
        driver.find_element(By.CSS_SELECTOR, "#sign-in button").click()
        until(driver, "a wrong token is refused",
              lambda d: "did not accept" in d.find_element(By.ID, "sign-in-error").text)
        driver.find_element(By.ID, "token").send_keys(READ_TOKEN)
        driver.find_element(By.CSS_SELECTOR, "#sign-in button").click()
        until(driver, "the read-only page loads", lambda d: d.find_elements(By.CSS_SELECTOR, "#task[data-status]"))
        expect(not driver.find_elements(By.CSS_SELECTOR, "[data-action]"), "buttons shown to a read-only token")
        driver.get(f"{API}/console/workers")
        until(driver, "the worker is shown", lambda d: d.find_elements(By.CSS_SELECTOR, ".card"))
        expect(not driver.find_elements(By.CSS_SELECTOR, "[data-action]"), "drain shown to a read-only token")
        no_policy_violations(driver)
    finally:
        driver.quit()

    # Readable at 360 px: nothing but the tables' own scrollers is wider.
    narrow = browser()
    try:
        narrow.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 360, "height": 780, "deviceScaleFactor": 1, "mobile": True})
        narrow.get(f"{API}/console#token={TOKEN}")
        until(narrow, "the list loads", lambda d: d.find_elements(By.CSS_SELECTOR, "#task-rows tr[data-id]"))
        width = narrow.execute_script("return document.documentElement.scrollWidth")
        inner = narrow.execute_script("return window.innerWidth")
        expect(width <= inner, f"the page is {width} px wide in a {inner} px window")
        shot(narrow, "tasks-360px")
    finally:
        narrow.quit()
    print(f"console-check: passed (screenshots in {SHOTS})")


if __name__ == "__main__":
    main()
