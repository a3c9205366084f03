"""The HTML report: one static `report.html` rendered from the JSON report (index.json plus the
per-case files), for a browser with no network: CSS, script and data are all inline.

The page holds the run, a summary per target, the targets x cases matrix (rows grouped by
category 1-9) and, lazily, every cell's transcripts: each cell is a small
`<script type="application/json">` blob parsed only when the cell is opened, and transcripts
are pooled, because the reference run of a case is shared by every target of its version (and
a reference target's transcript is the reference itself). Long byte strings are cut at
CUT characters; the per-case JSON file, linked from the view, has them whole.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from harness.resources import HTML_ASSETS_DIR
from harness.verdict import BAD, VERDICTS, Verdict

__all__ = ["write_html", "render", "CATEGORIES", "CUT"]

ASSETS = HTML_ASSETS_DIR
CUT = 16384  # characters of one byte string shown inline; a 1 MB DATA would bloat the page

CATEGORIES = {
    1: "greeting, HELO, EHLO", 2: "MAIL, RCPT, addresses, rcpthosts, badmailfrom",
    3: "DATA, transparency, bare LF, hops, databytes, queue codes", 4: "AUTH",
    5: "STARTTLS, SMTPS, ciphers", 6: "qmail-spp", 7: "qmail-remote routing and relay AUTH",
    8: "domainbindings, source IPv4", 9: "limits, robustness, smuggling, ambiguity",
    10: "client interop: smtplib, aiosmtplib, openssl s_client, swaks",
}
_esc = html.escape
SHORT = {Verdict.OK: "OK", Verdict.ACCEPTED: "ACC", Verdict.NON_STRICT: "NS", Verdict.INFORMATIONAL: "INFO",
         Verdict.UNIMPLEMENTED: "UNIMPL", Verdict.FAILED: "FAILED", Verdict.ERROR: "ERROR",
         Verdict.NOT_APPLICABLE: "N/A"}


def _json_script(element_id: str, data: Any) -> str:
    """Data inside <script type="application/json">: JSON never needs a raw '<', so escaping
    every one keeps `</script>` and `<!--` in a transcript from ending or bending the element."""
    text = json.dumps(data, separators=(",", ":"), sort_keys=True).replace("<", "\\u003c")
    return f'<script type="application/json" id="{element_id}">{text}</script>\n'


def _cap(value: Any) -> Any:
    """A byte string (latin-1 str) longer than CUT as {"cut": prefix, "len": n}; lists and
    dicts recursively."""
    if isinstance(value, str):
        return value if len(value) <= CUT else {"cut": value[:CUT], "len": len(value)}
    if isinstance(value, list):
        return [_cap(v) for v in value]
    if isinstance(value, dict):
        return {k: _cap(v) for k, v in value.items()}
    return value


class _Pool:
    """Transcripts by content: equal transcripts are embedded once."""

    def __init__(self) -> None:
        self.keys: dict[str, int] = {}
        self.blobs: list[str] = []

    def add(self, transcript: dict[str, Any] | None) -> int | None:
        if transcript is None:
            return None
        data = _cap(transcript)
        canon = json.dumps(data, sort_keys=True)
        key = self.keys.get(canon)
        if key is None:
            key = self.keys[canon] = len(self.blobs)
            self.blobs.append(_json_script(f"t-{key}", data))
        return key


def _load_case(out: Path, line: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    try:
        data: dict[str, Any] = json.loads((out / line["file"]).read_text())
    except (OSError, ValueError) as exc:
        return None, f"cannot read {line['file']}: {exc}"
    return data, ""


def _cell(n: int, line: dict[str, Any], out: Path, pool: _Pool) -> str:
    data, problem = _load_case(out, line)
    data = data or {}
    blob = {
        "n": n, "id": line["id"], "title": line["title"], "spec": line.get("spec", ""),
        "target": line["target"], "verdict": line["verdict"], "reason": line.get("reason", ""),
        "known": bool(line.get("known")), "file": line["file"], "tags": data.get("tags", []),
        "differences": _cap(data.get("differences", [])), "normalized_by": data.get("normalized_by", []),
        "ref": pool.add(data.get("reference")), "tgt": pool.add(data.get("transcript")), "problem": problem,
    }
    return _json_script(f"c-{n}", blob)


def _targets(index: dict[str, Any]) -> list[str]:
    names = [t["name"] for t in index["run"].get("targets", [])]
    for line in index["results"]:
        if line["target"] not in names:
            names.append(line["target"])
    return names


def _summary(index: dict[str, Any], targets: list[str]) -> str:
    described = {t["name"]: t for t in index["run"].get("targets", [])}
    head = "".join(f'<th class="v-{v}" title="{v}">{v}</th>' for v in VERDICTS)
    rows = []
    for name in targets:
        counts = index["summary"].get(name, {})
        desc = described.get(name, {})
        about = f"{desc.get('kind', '?')}, compared with the eQmail {desc.get('reference', '?')} reference"
        if desc.get("engine"):  # docker: targets say which engine ran them (harness/targets/engine.py)
            about += f", on {desc['engine']}"
        cells = "".join(
            f'<td class="n{" v-" + v if counts.get(v) else ""}"><button type="button" data-verdict="{v}" '
            f'data-target="{_esc(name)}" title="show {v} rows">{counts.get(v, 0)}</button></td>'
            if counts.get(v) else '<td class="n zero">0</td>' for v in VERDICTS)
        rows.append(f'<tr><th scope="row">{_esc(name)}<div class="about">{_esc(about)}</div></th>'
                    f"{cells}</tr>")
    return (f'<table id="summary"><thead><tr><th>target</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _matrix(index: dict[str, Any], targets: list[str]) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    """The matrix table and the (cell number, index line) pairs it links to."""
    by_case: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {}
    order: list[dict[str, Any]] = []
    cells: list[tuple[int, dict[str, Any]]] = []
    for line in index["results"]:
        if line["id"] not in by_case:
            by_case[line["id"]] = {}
            order.append(line)
        by_case[line["id"]][line["target"]] = (len(cells), line)
        cells.append((len(cells), line))
    groups: dict[int, list[str]] = {}
    for line in order:
        groups.setdefault(int(line.get("category", 0)), []).append(_row(line, by_case[line["id"]], targets))
    head = "".join(f'<th scope="col" class="tgt">{_esc(t)}</th>' for t in targets)
    bodies = []
    for category in sorted(groups):
        name = CATEGORIES.get(category, "other")
        bodies.append(f'<tbody data-category="{category}"><tr class="cat"><th colspan="{len(targets) + 2}">'
                      f"{category} &middot; {_esc(name)}</th></tr>{''.join(groups[category])}</tbody>")
    table = (f'<table id="matrix"><thead><tr><th scope="col">case</th><th scope="col">title</th>{head}</tr>'
             f"</thead>{''.join(bodies)}</table>")
    return table, cells


def _row(line: dict[str, Any], by_target: dict[str, tuple[int, dict[str, Any]]], targets: list[str]) -> str:
    tds, verdicts, bad = [], [], False
    for target in targets:
        if target not in by_target:
            tds.append('<td class="cell none" title="not run">&ndash;</td>')
            continue
        n, result = by_target[target]
        verdict = result["verdict"]
        known = bool(result.get("known"))
        verdicts.append(verdict + (" known" if known else ""))
        bad = bad or (verdict in BAD and not known)
        tip = f"{target}: {verdict}" + (" (known divergence, in the baseline)" if known else "")
        tip += f" - {result['reason']}" if result.get("reason") else ""
        tds.append(f'<td class="cell v-{verdict}{" known" if known else ""}" data-target="{_esc(target)}">'
                   f'<a href="#cell-{n}" title="{_esc(tip)}">{SHORT.get(verdict, verdict)}'
                   f'{"<sup>k</sup>" if known else ""}</a></td>')
    return (f'<tr class="case" data-id="{_esc(line["id"])}" data-title="{_esc(line["title"].lower())}"'
            f' data-verdicts="{" ".join(verdicts).lower()}" data-bad="{int(bad)}">'
            f'<td class="id">{_esc(line["id"])}</td><td class="title">{_esc(line["title"])}</td>'
            f"{''.join(tds)}</tr>")


def _run_header(run: dict[str, Any]) -> str:
    argv = " ".join(run.get("argv", []))
    parts = [f"<p class=\"run\">started {_esc(run.get('started', '?'))}, finished "
             f"{_esc(run.get('finished', '?'))} &middot; <code>qmc {_esc(argv)}</code></p>"]
    if run.get("interrupted"):
        parts.append('<p class="banner">The run was interrupted: the report holds the cases that ran.</p>')
    for problem in run.get("problems", []):
        parts.append(f'<p class="banner">problem: {_esc(problem)}</p>')
    rules = run.get("normalization_rules", [])
    listed = "".join(f"<dt>{_esc(r['name'])}</dt><dd>{_esc(r['why'])}</dd>" for r in rules)
    parts.append(f'<details id="rules"><summary>Normalization rules ({len(rules)})</summary>'
                 f"<dl>{listed}</dl></details>")
    return "".join(parts)


def _asset(name: str) -> str:
    text = (ASSETS / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise ValueError(f"{name} must not contain a closing script or style tag: it is inlined")
    return text


def render(index: dict[str, Any], out: Path) -> str:
    """The page for `index`, reading the per-case files it names from `out`."""
    targets = _targets(index)
    matrix, cells = _matrix(index, targets)
    pool = _Pool()
    cell_blobs = "".join(_cell(n, line, out, pool) for n, line in cells)
    meta = {"targets": targets, "verdicts": list(VERDICTS), "short": SHORT,
            "rules": {r["name"]: r["why"] for r in index["run"].get("normalization_rules", [])}}
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>qmc conformance report</title><style>{_asset('report.css')}</style></head>\n<body>"
        f"<header><h1>Conformance report</h1>{_run_header(index['run'])}</header>\n"
        f'<main><section><h2>Summary</h2>{_summary(index, targets)}</section>\n'
        '<section><h2>Matrix</h2><div id="tools"><input id="filter" type="search" autocomplete="off" '
        'placeholder="filter: case id (4.*), title words, verdict (failed, error, known)"> '
        '<label><input id="attention" type="checkbox"> needs attention only</label> '
        f'<span id="shown"></span></div>{matrix}</section></main>\n'
        '<div id="detail" hidden></div>\n'
        f"{_json_script('qmc-meta', meta)}{cell_blobs}{''.join(pool.blobs)}"
        f"<script>{_asset('report.js')}</script>\n</body></html>\n")


def write_html(index: dict[str, Any], out: Path) -> Path:
    path = out / "report.html"
    path.write_text(render(index, out), encoding="utf-8")
    return path
