"""The HTML report in a real browser: Debian's chromium, headless, driven over the Chrome
DevTools protocol on a pipe (--remote-debugging-pipe: NUL-terminated JSON on fds 3 and 4, no
port, no extra package). The report comes from real harness runs: `qmc record` of ref:1.09
replayed as a golden target that claims 1.08, so its cells hold real differences against the
1.08 reference (NON_STRICT, FAILED) and an ERROR (a case it has no recording of)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.report.html import CUT, render, write_html
from harness.report.json_ import load_index
from tests.conftest import ROOT, needs_tool

CATALOGUE = r'''
[[case]]
id = "1.1.1"
title = "EHLO, a NOOP carrying </script><!-- and QUIT"
spec = "4.1"
profile = "auth"
steps = [{send = "EHLO x\r\n"}, {send = "NOOP </script><script>window.pwned=1</script><!--\r\n"}, {send = "QUIT\r\n"}]

[[case]]
id = "3.1.1"
title = "a bare LF command, DATA with NUL and 8-bit bytes"
spec = "3.6"
input = "HELO x\nMAIL FROM:<a@b>\r\nRCPT TO:<r@example.org>\r\nDATA\r\nSubject: \u00e9t\u00e9\r\n\r\nnul\u0000 here\r\n.\r\nQUIT\r\n"

[[case]]
id = "4.1.1"
title = "AUTH LOGIN prompts"
spec = "4.2"
profile = "auth"
steps = [{send = "EHLO x\r\n"}, {send = "AUTH LOGIN\r\n"}, {send = "am9l\r\n"}, {send = "c2VjcmV0\r\n"}, {send = "QUIT\r\n"}]

[[case]]
id = "4.1.2"
title = "AUTH PLAIN under TLSREQUIRED without TLS"
spec = "4.6"
profile = "auth"
env = { TLSREQUIRED = "1" }
steps = [{send = "EHLO x\r\n"}, {send = "AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n"}, {send = "QUIT\r\n"}]

[[case]]
id = "8.1.1"
title = "a 1.08-only case"
spec = "8.1"
versions = ["1.08"]
input = "HELO x\r\nQUIT\r\n"
'''
GOLDEN = "golden:{dir}"
TIMEOUT = 60.0  # only turns a hung browser into a failure; nothing waits on it


def _qmc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run: ref, ref:1.09 and ref:1.09's recordings replayed as a 1.08 golden target."""
    base = tmp_path_factory.mktemp("html")
    (base / "cat.toml").write_text(CATALOGUE)
    gold = base / "gold"
    done = _qmc("record", "-t", "ref:1.09", "--out", str(gold), "--catalogue-only", str(base / "cat.toml"))
    assert done.returncode == 0, done.stderr
    index = json.loads((gold / "index.json").read_text())
    index["version"] = "1.08"  # the recordings now stand in for a 1.08 target that acts like 1.09
    (gold / "index.json").write_text(json.dumps(index))
    (base / "baseline.json").write_text(json.dumps({f"golden:{gold}": {"8.1.1": "ERROR"}}))  # a known one
    out = base / "out"
    done = _qmc("run", "--out", str(out), "-t", "ref", "-t", "ref:1.09", "-t", f"golden:{gold}",
                "--catalogue-only", str(base / "cat.toml"), "-j", "2", "--baseline", str(base / "baseline.json"))
    assert done.returncode == 1, done.stdout + done.stderr  # FAILED and ERROR need attention
    assert (out / "report.html").exists(), done.stdout
    return out


# -- a small DevTools client ---------------------------------------------------------------------

class Browser:
    """chromium with --remote-debugging-pipe; one page, attached with a flat session."""

    def __init__(self, proc: subprocess.Popen[bytes], to_browser: int, from_browser: int) -> None:
        self.proc, self.wfd, self.rfd = proc, to_browser, from_browser
        self.buf = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self.buf:
            ready, _, _ = select.select([self.rfd], [], [], TIMEOUT)
            assert ready, "chromium did not answer"
            chunk = os.read(self.rfd, 1 << 20)
            assert chunk, f"chromium closed the pipe (exit {self.proc.poll()})"
            self.buf += chunk
        message, _, self.buf = self.buf.partition(b"\0")
        data: dict[str, Any] = json.loads(message)
        return data

    def call(self, method: str, params: dict[str, Any] | None = None, *, browser: bool = False) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if not browser:
            message["sessionId"] = self.session
        os.write(self.wfd, json.dumps(message).encode() + b"\0")
        while True:
            data = self._read()
            if data.get("id") == self.next_id:
                assert "error" not in data, f"{method}: {data['error']}"
                result: dict[str, Any] = data["result"]
                return result
            self.events.append(data)

    def wait_event(self, method: str) -> dict[str, Any]:
        for n, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(n)
        while True:
            data = self._read()
            if data.get("method") == method:
                return data
            self.events.append(data)

    def js(self, expression: str) -> Any:
        """The value of `expression` (a promise is awaited); a page exception fails the test."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        box = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView("
                      "{block: 'center'}); const r = e.getBoundingClientRect(); "
                      "return [r.x + r.width / 2, r.y + r.height / 2, r.width * r.height]; })()")
        assert box[2] > 0, f"{selector} is not displayed"
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                   "clickCount": 1})

    def errors(self) -> list[str]:
        """Uncaught exceptions, console errors and error log entries seen so far."""
        self.js("0")  # flush: events sent before this answer are now in self.events
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.exceptionThrown":
                out.append(json.dumps(p["exceptionDetails"]))
            elif e.get("method") == "Runtime.consoleAPICalled" and p.get("type") == "error":
                out.append(json.dumps(p.get("args")))
            elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(p["entry"]["text"])
        return out

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})["data"]
        path.write_bytes(base64.b64decode(data))


def _profile_processes(profile: str) -> list[int]:
    """Pids whose command line names our profile dir: chromium's helpers, whatever their group."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if profile.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
    return pids


@contextlib.contextmanager
def chromium(width: int = 1400, height: int = 900) -> Iterator[Browser]:
    exe = needs_tool("chromium")
    profile = tempfile.mkdtemp(prefix="qmc-chromium-")
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()

    def fds() -> None:  # the child's fd 3 reads our commands, fd 4 carries its answers
        os.dup2(os.dup(to_r), 3)
        os.dup2(os.dup(from_w), 4)

    proc = subprocess.Popen(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--mute-audio", f"--window-size={width},{height}",
         f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        close_fds=False, preexec_fn=fds, start_new_session=True)
    os.close(to_r)
    os.close(from_w)
    try:
        browser = Browser(proc, to_w, from_r)
        target = browser.call("Target.createTarget", {"url": "about:blank"}, browser=True)["targetId"]
        browser.session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True},
                                       browser=True)["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            browser.call(f"{domain}.enable")
        yield browser
    finally:
        with contextlib.suppress(OSError):
            os.write(to_w, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):  # the browser's own group: any helper left in it
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for pid in _profile_processes(profile):  # a helper that left the group
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        os.close(to_w)
        os.close(from_r)
        shutil.rmtree(profile, ignore_errors=True)
        assert not _profile_processes(profile)


def _open(browser: Browser, page: Path) -> None:
    browser.call("Page.navigate", {"url": page.resolve().as_uri()})
    browser.wait_event("Page.loadEventFired")


def _filter(browser: Browser, text: str) -> None:
    browser.js(f"(() => {{ const f = document.querySelector('#filter'); f.value = {json.dumps(text)}; "
               "f.dispatchEvent(new Event('input')); })()")


# Resolves once `selector` matches (now or after a DOM change): waiting on the page, not a clock.
WAIT_FOR = """new Promise(done => { const sel = %s; const hit = () => document.querySelector(sel);
  if (hit()) return done(true); const mo = new MutationObserver(() => { if (hit()) { mo.disconnect();
  done(true); } }); mo.observe(document.body, {childList: true, subtree: true, attributes: true}); })"""


# -- the tests -----------------------------------------------------------------------------------

def test_matrix_loads_and_a_cell_opens_its_transcripts(report: Path) -> None:
    index = load_index(report)
    gold = next(t["name"] for t in index["run"]["targets"] if t["kind"] == "golden")
    with chromium() as browser:
        _open(browser, report / "report.html")
        got = browser.js("""({
          rows: [...document.querySelectorAll('#matrix tr.case')].map(tr => tr.dataset.id),
          heads: [...document.querySelectorAll('#matrix thead th.tgt')].map(th => th.textContent),
          cells: [...document.querySelectorAll('#matrix tr.case')].map(tr =>
            [...tr.querySelectorAll('td.cell')].map(td => td.className.replace('cell ', ''))),
          categories: [...document.querySelectorAll('#matrix tr.cat th')].map(th => th.textContent),
          summary: [...document.querySelectorAll('#summary tbody tr')].map(tr => tr.querySelector('th').firstChild
            .textContent),
          pwned: window.pwned === 1, shown: document.querySelector('#shown').textContent,
          detailHidden: document.querySelector('#detail').hidden })""")
        assert got["rows"] == ["1.1.1", "3.1.1", "4.1.1", "4.1.2", "8.1.1"]
        assert got["heads"] == ["ref", "ref:1.09", gold] == got["summary"]
        assert [c.split(" ")[0] for c in got["categories"]] == ["1", "3", "4", "8"]
        assert got["cells"] == [
            ["v-OK", "v-OK", "v-OK"], ["v-OK", "v-OK", "v-OK"], ["v-OK", "v-OK", "v-NON_STRICT"],
            ["v-OK", "v-OK", "v-FAILED"], ["v-OK", "v-NOT_APPLICABLE", "v-ERROR known"]]
        assert got["shown"] == "5 of 5 cases" and got["detailHidden"] and not got["pwned"]

        # the FAILED cell: 1.09's TLSREQUIRED refusal where the 1.08 reference lets AUTH PLAIN in
        browser.click(f"#matrix tr[data-id='4.1.2'] td.cell[data-target='{gold}'] a")
        assert browser.js(WAIT_FOR % json.dumps("#detail:not([hidden]) table.side"))
        view = browser.js("""(() => { const d = document.querySelector('#detail');
          const row = d.querySelector('table.side tr.differs[data-step]');
          return { title: d.querySelector('h2').textContent, verdict: d.querySelector('.verdict').textContent,
            heads: [...d.querySelectorAll('table.side thead th')].map(th => th.textContent),
            steps: [...d.querySelectorAll('table.side tr.exchange')].map(tr => tr.dataset.step),
            differs: row.dataset.step,
            refMark: row.querySelector('td.ref .ln.mark').textContent,
            tgtMark: row.querySelector('td.tgt .ln.mark').textContent,
            sent: row.querySelector('td.tgt .bytes.sent').textContent,
            escapes: [...row.querySelectorAll('td.tgt .esc')].map(e => e.textContent),
            fd3: d.querySelector('table.side tr.differs:not([data-step]) th').textContent,
            hash: location.hash, scroll: getComputedStyle(document.body).overflow }; })()""")
        assert view["title"] == "4.1.2 AUTH PLAIN under TLSREQUIRED without TLS"
        assert view["verdict"] == "FAILED"
        assert view["heads"][1].startswith("reference: ref · eQmail 1.08")
        assert view["heads"][2].startswith(f"target: {gold} · eQmail 1.09")
        assert view["steps"] == ["0", "1", "2", "3", "4"] and view["differs"] == "2"
        assert view["refMark"] == "235 ok, joe, go ahead (#2.0.0)\\r\\n"
        assert view["tgtMark"] == "538 AUTH PLAIN/LOGIN not available without TLS (#5.3.3)\\r\\n"
        assert view["sent"] == "C:AUTH PLAIN AGpvZQBzZWNyZXQ=\\r\\n"
        assert view["escapes"] == ["\\r", "\\n"] * 2
        assert view["fd3"] == "fd3"  # the checkpassword observation differs too, and is marked
        assert view["hash"].startswith("#cell-") and view["scroll"] == "hidden"

        # Escape closes the view and returns to the matrix
        browser.call("Input.dispatchKeyEvent", {"type": "keyDown", "key": "Escape", "code": "Escape",
                                                "windowsVirtualKeyCode": 27})
        browser.call("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Escape", "code": "Escape",
                                                "windowsVirtualKeyCode": 27})
        assert browser.js(WAIT_FOR % json.dumps("#detail[hidden]"))
        assert browser.js("location.hash") == ""

        # a link straight to a cell (report.html#cell-N) opens it; its close button leaves it
        link = view["hash"]
        # (a query string makes it a new load, not a same-document hash change)
        browser.call("Page.navigate", {"url": (report / "report.html").resolve().as_uri() + "?again" + link})
        browser.wait_event("Page.loadEventFired")
        assert browser.js("document.querySelector('#detail:not([hidden]) h2').textContent").startswith("4.1.2 ")
        browser.click("#detail .close")
        assert browser.js(WAIT_FOR % json.dumps("#detail[hidden]"))
        assert browser.js("[location.hash, document.body.className]") == ["", ""]
        assert browser.errors() == []
        if os.environ.get("QMC_HTML_SCREENSHOT"):  # for a human look at the layout; never committed
            browser.click(f"#matrix tr[data-id='4.1.2'] td.cell[data-target='{gold}'] a")
            browser.js(WAIT_FOR % json.dumps("#detail:not([hidden]) table.side"))
            browser.screenshot(Path(os.environ["QMC_HTML_SCREENSHOT"]))


def test_filter_and_byte_escapes(report: Path) -> None:
    with chromium() as browser:
        _open(browser, report / "report.html")
        browser.click("#filter")
        browser.call("Input.insertText", {"text": "failed"})
        assert browser.js("[...document.querySelectorAll('#matrix tr.case:not([hidden])')].map(tr => tr.dataset.id)"
                          ) == ["4.1.2"]
        assert browser.js("[...document.querySelectorAll('#matrix tbody:not([hidden]) tr.cat')].length") == 1
        _filter(browser, "")
        browser.click("#summary tbody tr:nth-child(2) td.v-NOT_APPLICABLE button")
        assert browser.js("document.querySelector('#filter').value") == "not_applicable@ref:1.09"
        assert browser.js("[...document.querySelectorAll('#matrix tr.case:not([hidden])')].map(tr => tr.dataset.id)"
                          ) == ["8.1.1"]
        _filter(browser, "")
        browser.click("#attention")
        assert browser.js("document.querySelector('#shown').textContent") == "1 of 5 cases"  # 8.1.1 is known
        browser.click("#attention")
        browser.click("#filter")
        browser.call("Input.insertText", {"text": "known"})
        assert browser.js("[...document.querySelectorAll('#matrix tr.case:not([hidden])')].map(tr => tr.dataset.id)"
                          ) == ["8.1.1"]
        assert browser.js("document.querySelector('#matrix td.known a').textContent") == "ERRORk"
        _filter(browser, "")

        # the DATA case on the reference: bare LF, NUL and 8-bit bytes visible as escapes
        browser.click("#matrix tr[data-id='3.1.1'] td.cell[data-target='ref'] a")
        assert browser.js(WAIT_FOR % json.dumps("#detail:not([hidden]) table.side"))
        sent = browser.js("document.querySelector('#detail tr.exchange[data-step=\"1\"] td.ref .sent').textContent")
        assert sent.startswith("C:HELO x\\nMAIL FROM:<a@b>\\r\\n")
        assert "Subject: \\xe9t\\xe9\\r\\n\\r\\nnul\\0 here\\r\\n" in sent
        queue = browser.js("[...document.querySelectorAll('#detail tr:not([data-step]) td.tgt')].map(td => "
                           "td.textContent)")[1]
        assert queue.startswith("messageReceived: from unknown (HELO x)") and "\\xe9t\\xe9\\n\\nnul\\0 here\\n" in queue
        assert "envelopeFa@b\\0Tr@example.org\\0\\0" in queue
        rules = browser.js("[...document.querySelectorAll('#detail ul.rules code')].map(c => c.textContent)")
        assert rules == ["queue-accept", "received-date"]
        assert browser.js("[...document.querySelectorAll('#detail .ln.mark, #detail .mark-all')].length") == 0

        # the </script> the client sent is shown as text, and ran nothing
        browser.js("history.back()")
        assert browser.js(WAIT_FOR % json.dumps("#detail[hidden]"))
        _filter(browser, "")
        browser.click("#matrix tr[data-id='1.1.1'] td.cell[data-target='ref'] a")
        assert browser.js(WAIT_FOR % json.dumps("#detail:not([hidden]) table.side"))
        noop = browser.js("document.querySelector('#detail tr.exchange[data-step=\"2\"] td.ref .sent').textContent")
        assert noop == "C:NOOP </script><script>window.pwned=1</script><!--\\r\\n"
        assert browser.js("window.pwned === undefined")
        assert browser.errors() == []


def test_long_bytes_are_cut_and_a_missing_case_file_is_reported(report: Path, tmp_path: Path) -> None:
    """No browser: what the generator embeds. A 1 MB byte string is cut (the JSON file has it
    whole); a case file that is gone (an interrupted run) becomes a note in its cell."""
    index = load_index(report)
    out = tmp_path / "out"
    shutil.copytree(report, out)
    line = next(r for r in index["results"] if r["id"] == "3.1.1" and r["target"] == "ref")
    case = json.loads((out / line["file"]).read_text())
    case["transcript"]["exchanges"][1]["sent"] = "x" * 1_000_000
    (out / line["file"]).write_text(json.dumps(case))
    gone = next(r for r in index["results"] if r["id"] == "1.1.1" and r["target"] == "ref")
    (out / gone["file"]).unlink()
    page = write_html(index, out).read_text()
    assert len(page) < 200_000 and "x" * CUT in page and "x" * (CUT + 1) not in page
    assert '"len":1000000' in page
    assert f"cannot read {gone['file']}" in page
    assert render(index, out) == page  # deterministic: the same report renders the same page
