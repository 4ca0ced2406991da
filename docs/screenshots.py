"""Screenshots of the Prefect UI as an operator meets it, for the docs (docs, "What the UI tells").

Run by hand from the checkout (not in CI; it takes about five minutes on two cores):

    .venv/bin/python docs/screenshots.py            # writes docs/ui/*.png
    .venv/bin/python docs/screenshots.py --keep     # and leaves the server up to look around

It writes a synthetic OOI mirror (a day with files, a day without, a day whose only file is unreadable),
starts `whaledr serve` on loopback with its own Prefect home, runs what an operator runs (a day with the
default budget, the day without data, a backfill over all three, the daily run, then the first day
again with `all`), and screenshots each page with headless Chromium (Debian's `chromium`) driven over the
DevTools protocol: the Prefect UI is a single-page app, so each page is waited for until its text is there.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx

from flows.params import SAFE_BUDGET

ROOT = Path(__file__).resolve().parent.parent
EMPTY = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
"""Yesterday, the daily run's day: no file yet (OOI posts a day's files with a delay)."""
DAY, BAD = EMPTY - dt.timedelta(days=2), EMPTY - dt.timedelta(days=1)
"""A day with three files; a day whose only file is unreadable."""
WIDTH, HEIGHT = 1440, 960
UI = "/v2"
"""Prefect 3.9's default UI (the older one is at /)."""


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--out", type=Path, default=ROOT / "docs" / "ui", help="Where the PNGs go.")
    args.add_argument("--keep", action="store_true", help="Leave the server up at the end (Ctrl-C stops it).")
    args.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    a = args.parse_args()
    work = Path(tempfile.mkdtemp(prefix="whaledr-ui-"))
    mirror = work / "mirror"
    for seed, first in enumerate(("00:00", "06:00", "12:00", "18:00")):  # four stretches: a day the overview shows
        whaledr("synth", str(mirror), "--date", DAY.isoformat(), "--files", "2", "--first", first, "--seed", str(seed))
    bad = next(mirror.rglob(f"{DAY:%Y/%m/%d}")).parent.parent.parent / f"{BAD:%Y/%m/%d}"
    bad.mkdir(parents=True)
    (bad / f"OO-HYEA2--YDH-{BAD:%Y-%m-%d}T00:00:00.000015Z.mseed").write_bytes(os.urandom(100_000))

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(work / "home"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    log = work / "serve.log"
    serve = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve", "--port", str(port), "--out",
                              str(work / "out"), "--source", str(mirror)], env=env, cwd=ROOT,
                             stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    signal.signal(signal.SIGTERM, _interrupt)  # a `kill` stops the server too
    try:
        while "being served" not in log.read_text():
            if serve.poll() is not None:
                raise SystemExit(log.read_text()[-3000:])
            time.sleep(1)
        print(f"whaledr serve: {base} (work in {work})")
        api = Api(f"{base}/api")
        runs = scenario(api)
        with Browser(a.chromium, base) as browser:
            shots(browser, api, runs, a.out)
        if a.keep:
            print(f"the server stays up at {base}; Ctrl-C stops it")
            serve.wait()
    finally:
        serve.terminate()
        serve.wait(60)
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


def scenario(api: Api) -> dict[str, str]:
    """What an operator runs, in order; the flow run IDs by what they are."""
    deployments = {d["name"]: d["id"] for d in api.post("/deployments/filter", {})}
    runs = {
        "day": api.run(deployments["day"], {"day": DAY.isoformat()}),
        "no-data day": api.run(deployments["day"], {"day": EMPTY.isoformat()}),
        "backfill": api.run(deployments["backfill"], {"start": DAY.isoformat(), "end": EMPTY.isoformat()}),
    }
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)  # as the scheduler would, for today
    runs["daily"] = api.run(deployments["daily"], {}, scheduled=now.isoformat())
    runs["wider"] = api.run(deployments["day"], {"day": DAY.isoformat(), "selection": {"publish": "all"}})
    return runs


def shots(browser: Browser, api: Api, runs: dict[str, str], out: Path) -> None:
    """Each page an operator looks at, as a PNG under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    deployments = {d["name"]: d["id"] for d in api.post("/deployments/filter", {})}
    backfill_tasks = api.post("/task_runs/filter", {"flow_runs": {"id": {"any_": [runs["backfill"]]}}})
    failed_task = next(t for t in backfill_tasks if t["state_type"] == "FAILED" and str(BAD) in t["name"])
    no_data_task = next(t for t in backfill_tasks if t["state_type"] == "FAILED" and str(EMPTY) in t["name"])

    def artifact(run: str, key: str) -> str:
        return next(a["id"] for a in api.post("/artifacts/filter", {})
                    if a["flow_run_id"] == runs[run] and (a["key"] or a["type"]).startswith(key))

    run, task, art = f"{UI}/runs/flow-run", f"{UI}/runs/task-run", f"{UI}/artifacts/artifact"
    pages = [
        ("runs-list", f"{UI}/runs", f"daily {EMPTY}"),
        ("day-run-details", f"{run}/{runs['day']}?tab=Details", "State Message"),
        ("day-run-artifacts", f"{run}/{runs['day']}?tab=Artifacts", "whaledr-overview"),
        ("day-overview-artifact", f"{art}/{artifact('day', 'whaledr-overview')}", "at a glance"),
        ("day-progress-artifact", f"{art}/{artifact('day', 'progress')}", "published"),
        ("no-data-day-run-details", f"{run}/{runs['no-data day']}?tab=Details", "State Message"),
        ("backfill-run-task-runs", f"{run}/{runs['backfill']}?tab=TaskRuns", "data-calendar"),
        ("backfill-run-details", f"{run}/{runs['backfill']}?tab=Details", "State Message"),
        ("backfill-failed-day-task-run", f"{task}/{failed_task['id']}", "Finished in state"),
        ("backfill-no-data-task-run", f"{task}/{no_data_task['id']}", "Finished in state"),
        ("backfill-days-artifact", f"{art}/{artifact('backfill', 'whaledr-backfill-days')}", "day run"),
        ("backfill-calendar-artifact", f"{art}/{artifact('backfill', 'whaledr-calendar')}", "Days without files"),
        ("daily-run-details", f"{run}/{runs['daily']}?tab=Details", "State Message"),
        ("wider-day-run-logs", f"{run}/{runs['wider']}", "widens"),
        ("wider-overview-artifact", f"{art}/{artifact('wider', 'whaledr-overview')}", "at a glance"),
        ("daily-deployment", f"{UI}/deployments/deployment/{deployments['daily']}", "06:00"),
    ]
    pages += [(f"form-{name}", f"{UI}/deployments/deployment/{deployments[name]}/run?mode=custom", "Publish (budget)")
              for name in ("day", "backfill", "daily")]
    for name, path, text in pages:
        save(out / f"{name}.png", browser.shot(path, text))
    # the form checks the budget as it is filled in: a budget it does not know, then Submit
    browser.shot(f"{UI}/deployments/deployment/{deployments['day']}/run?mode=custom", "Publish (budget)")
    browser.fill("textarea", SAFE_BUDGET, "top:many")
    browser.click("button", "Submit")
    save(out / "form-day-refused.png", browser.shot(None, "does not match", height=1300))


def save(path: Path, png: bytes) -> None:
    png = small(png)
    path.write_bytes(png)
    print(f"{path}: {len(png) // 1024} kB")


def small(png: bytes) -> bytes:
    """A screenshot in 256 colours: the UI is flat colour and text, and the repository keeps every picture."""
    from PIL import Image

    with Image.open(BytesIO(png)) as img:
        out = BytesIO()
        img.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
        return out.getvalue()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Api:
    """The Prefect server's REST API, as the UI uses it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def post(self, path: str, body: dict) -> Any:
        return self._call("POST", path, body)

    def get(self, path: str) -> Any:
        return self._call("GET", path, None)

    def _call(self, method: str, path: str, body: dict | None) -> Any:
        """429 and 503 (SQLite busy on a loaded machine) ask the client to come back, as Prefect's own
        client does; a run is created with an idempotency key, so asking again makes no second one."""
        for wait in (1, 2, 4, 8, None):
            r = httpx.request(method, self.url + path, json=body, timeout=30)
            if r.status_code not in (429, 503) or wait is None:
                break
            time.sleep(wait)
        r.raise_for_status()
        return r.json()

    def run(self, deployment: str, parameters: dict, scheduled: str | None = None) -> str:
        """A flow run of the deployment, waited for until it ends; its ID."""
        body: dict[str, Any] = {"parameters": parameters, "idempotency_key": str(uuid.uuid4())}
        if scheduled:
            body["state"] = {"type": "SCHEDULED", "state_details": {"scheduled_time": scheduled}}
        run = self.post(f"/deployments/{deployment}/create_flow_run", body)
        while run["state_type"] not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            time.sleep(2)
            run = self.get(f"/flow_runs/{run['id']}")
        print(f"{run['name']}: {run['state_name']}: {run['state']['message']}")
        return run["id"]


class Browser:
    """Headless Chromium over its DevTools protocol: go to a page, wait for its text, take a picture."""

    def __init__(self, chromium: str, base: str) -> None:
        self.chromium, self.base = chromium, base

    def __enter__(self) -> Browser:
        from websockets.sync.client import connect

        self.profile = tempfile.mkdtemp(prefix="whaledr-chromium-")
        self.proc = subprocess.Popen(
            [self.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={self.profile}", "--remote-debugging-port=0", f"--window-size={WIDTH},{HEIGHT}",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline:
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.2)
        port = port_file.read_text().split()[0]
        page = next(t for t in httpx.get(f"http://127.0.0.1:{port}/json/list").json() if t["type"] == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=None)
        self.next_id = 0
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
        return self

    def __exit__(self, *exc: object) -> None:
        self.ws.close()
        self.proc.terminate()
        self.proc.wait(20)
        shutil.rmtree(self.profile, ignore_errors=True)

    def call(self, method: str, **params: Any) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            answer = json.loads(self.ws.recv())
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def text(self) -> str:
        result = self.call("Runtime.evaluate", expression="document.body ? document.body.innerText : ''",
                           returnByValue=True)
        return str(result.get("result", {}).get("value", ""))

    def fill(self, tag: str, old: str, new: str) -> None:
        """Type `new` into the `tag` field that holds `old`, as React hears typing."""
        self.js(f"""const el = [...document.querySelectorAll({tag!r})].find(e => e.value === {old!r});
            const set = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(el), 'value').set;
            set.call(el, {new!r}); el.dispatchEvent(new Event('input', {{bubbles: true}}));""")

    def click(self, tag: str, text: str) -> None:
        self.js(f"[...document.querySelectorAll({tag!r})].find(e => e.innerText.trim() === {text!r}).click()")

    def js(self, expression: str) -> None:
        answer = self.call("Runtime.evaluate", expression=expression)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails']}")

    def shot(self, path: str | None, wait_for: str, timeout: float = 60, height: int = 5200) -> bytes:
        """The page at `path` (None: the one shown) once its text holds `wait_for` and has stopped
        changing, the whole page down to `height` pixels."""
        if path is not None:
            self.call("Page.navigate", url=self.base + path)
        deadline, last, still = time.monotonic() + timeout, "", 0
        while time.monotonic() < deadline:
            time.sleep(1)
            now = self.text()
            still = still + 1 if now == last and wait_for.lower() in now.lower() else 0
            if still >= 2:
                break
            last = now
        else:
            print(f"  {path}: {wait_for!r} not seen in {timeout:.0f} s; taken as it is")
        full = self.call("Runtime.evaluate", expression="document.documentElement.scrollHeight",
                         returnByValue=True)["result"]["value"]
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": WIDTH, "height": max(HEIGHT, min(int(full), height)),
                               "scale": 1})
        return base64.b64decode(shot["data"])


def whaledr(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=ROOT, check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()
