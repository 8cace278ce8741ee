#!/usr/bin/env python3
"""Drives headless Chromium over the DevTools protocol for the board's browser test.

Standard library only: Chromium speaks the protocol over a pipe (--remote-debugging-pipe:
it reads NUL-terminated JSON commands on fd 3 and writes answers and events on fd 4), so no
WebSocket client is needed. The Rust test sends one JSON command per line on stdin and reads
one JSON answer per line on stdout:

  {"cmd": "open", "url": U}            load U, mark the window (a reload would lose the mark)
  {"cmd": "eval", "expr": E}           {"value": <E's value>}
  {"cmd": "wait", "expr": E, "timeout": S}   poll E until truthy: {"ok": bool, "value": ...}
  {"cmd": "screenshot", "path": P}     PNG of the page's content at P
  {"cmd": "quit"}
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time


class Chromium:
    def __init__(self, binary):
        self.profile = tempfile.mkdtemp(prefix="bionicbb-chromium-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def fds():
            # The pipes may themselves be fds 3 and 4 (close-on-exec, which dup2 onto the
            # same number would keep): copy them out of the way first.
            r, w = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--no-default-browser-check",
             "--hide-scrollbars", "--remote-debugging-pipe",
             "--user-data-dir=" + self.profile, "--window-size=1400,1000", "about:blank"],
            preexec_fn=fds, close_fds=False,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def send(self, method, params=None, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            m = self.read()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def read(self):
        while b"\0" not in self.buf:
            chunk = os.read(self.from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def wait_event(self, name, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i, e in enumerate(self.events):
                if e.get("method") == name:
                    del self.events[i]
                    return e
            self.events.append(self.read())
        raise RuntimeError(f"no {name} within {timeout}s")

    def attach(self):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send("Target.attachToTarget",
                             {"targetId": target["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]
        self.send("Page.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})

    def evaluate(self, expr):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails'].get('text')}")
        return r.get("result", {}).get("value")

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main():
    chromium = Chromium(sys.argv[1])
    answer = lambda v: (sys.stdout.write(json.dumps(v) + "\n"), sys.stdout.flush())
    try:
        chromium.attach()
        answer({"ready": True})
        for raw in sys.stdin:
            cmd = json.loads(raw)
            c = cmd["cmd"]
            try:
                if c == "open":
                    chromium.events.clear()
                    chromium.send("Page.navigate", {"url": cmd["url"]})
                    chromium.wait_event("Page.loadEventFired", 20)
                    chromium.evaluate("window.__bionicbbLoaded = true")
                    answer({"ok": True})
                elif c == "eval":
                    answer({"value": chromium.evaluate(cmd["expr"])})
                elif c == "wait":
                    deadline = time.time() + cmd.get("timeout", 10)
                    value = None
                    while time.time() < deadline:
                        value = chromium.evaluate(cmd["expr"])
                        if value:
                            break
                        time.sleep(0.1)
                    answer({"ok": bool(value), "value": value})
                elif c == "screenshot":
                    # The page's content, not the empty screen below it.
                    height = chromium.evaluate(
                        "Math.ceil(document.body.getBoundingClientRect().bottom) + 8")
                    shot = chromium.send("Page.captureScreenshot", {
                        "format": "png", "captureBeyondViewport": True,
                        "clip": {"x": 0, "y": 0, "width": 1400, "height": height, "scale": 1}})
                    with open(cmd["path"], "wb") as f:
                        f.write(base64.b64decode(shot["data"]))
                    answer({"ok": True})
                elif c == "quit":
                    answer({"ok": True})
                    break
                else:
                    answer({"error": f"unknown command {c}"})
            except Exception as e:  # report, keep serving
                answer({"error": str(e)})
    finally:
        chromium.close()


if __name__ == "__main__":
    main()
