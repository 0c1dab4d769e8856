#!/usr/bin/env python3
"""Drive the running remindme bundle the way its tests would.

    drive.py form         Selenium fills the form in the real browser: a reminder due in 30 days
    drive.py no-mail      no reminder mail has been sent (yet)
    drive.py await-mail   the periodic task mails the reminder (after `teamster travel +31d`)
    drive.py pids FILE    writes the pid of every process of every service's tree to FILE
    drive.py gone FILE    checks that none of the processes in FILE is left

Reads the bundle's connection info and the SMTP sink's log from the run directory:
$REMINDME_RUN_DIR, else .teamster/current next to this file. Exits 1 with a message on the
first failed check.
"""

import json
import os
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
CURRENT = Path(os.environ.get("REMINDME_RUN_DIR") or HERE / ".teamster" / "current")
EMAIL = "alice@example.test"
TEXT = "Renew the passport"


class Failure(Exception):
    pass


def connections():
    return json.loads((CURRENT / "connections.json").read_text())


def form():
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    conn = connections()
    options = webdriver.ChromeOptions()
    options.binary_location = conn["browser"]["binary"]
    for arg in json.loads(conn["browser"]["args"]):
        options.add_argument(arg)
    driver = webdriver.Remote(command_executor=conn["browser"]["url"], options=options)
    try:
        driver.get(conn["web"]["url"])
        driver.find_element(By.ID, "email").send_keys(EMAIL)
        driver.find_element(By.ID, "text").send_keys(TEXT)
        days = driver.find_element(By.ID, "days")
        days.clear()
        days.send_keys("30")
        driver.find_element(By.ID, "save").click()
        WebDriverWait(driver, 15).until(ec.text_to_be_present_in_element((By.ID, "status"), "Saved"))
        print("browser:", driver.find_element(By.ID, "status").text)
    finally:
        driver.quit()
    with urllib.request.urlopen(conn["web"]["url"].rstrip("/") + "/reminders", timeout=10) as r:
        saved = json.load(r)["reminders"]
    if [x["text"] for x in saved] != [TEXT]:
        raise Failure(f"the app holds {saved}, not the one reminder the browser saved")
    print("app: reminder due", saved[0]["due_at"])


def mails():
    """The messages the SMTP sink printed, one JSON object per line."""
    path = CURRENT / "logs" / "mail.out"
    found = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return [m for m in found if isinstance(m, dict) and "subject" in m]


def no_mail():
    sent = mails()
    if sent:
        raise Failure(f"mail was sent before the reminder was due: {sent}")
    print("mail: none yet")


def await_mail(limit=60.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for mail in mails():
            if TEXT in mail.get("subject", ""):
                print("mail:", json.dumps({k: mail.get(k) for k in ("sent_to", "subject")}))
                return
        time.sleep(0.2)
    raise Failure(f"no reminder mail within {limit:.0f} s after the travel; sink saw {mails()}")


def tree_pids():
    """Every process whose ancestry leads to a service's main process."""
    status = json.loads(os.popen("teamster status --json").read() or "{}")
    roots = {s["pid"] for s in status.get("services", []) if s.get("pid")}
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    pids = set()
    for pid in parents:
        p = pid
        while p > 1:
            if p in roots:
                pids.add(pid)
                break
            p = parents.get(p, 0)
    return roots, pids


def pids(path):
    roots, found = tree_pids()
    if not roots:
        raise Failure("`teamster status --json` named no service process")
    Path(path).write_text("\n".join(str(p) for p in sorted(found)))
    print(f"processes: {len(found)} in the trees of {len(roots)} services")


def gone(path):
    left = []
    for pid in map(int, Path(path).read_text().split()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            left.append(f"{pid} {cmdline.strip()}")
    if left:
        raise Failure("processes left after the stop:\n  " + "\n  ".join(left))
    print("processes: none left")


def main(argv):
    steps = {"form": form, "no-mail": no_mail, "await-mail": await_mail}
    try:
        if argv[:1] == ["pids"] and len(argv) == 2:
            pids(argv[1])
        elif argv[:1] == ["gone"] and len(argv) == 2:
            gone(argv[1])
        elif len(argv) == 1 and argv[0] in steps:
            steps[argv[0]]()
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Failure as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
