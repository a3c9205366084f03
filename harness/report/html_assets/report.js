// qmc report: inlined into report.html. Vanilla JS, no network. Every cell's data is a
// <script type="application/json" id="c-N"> blob, parsed only when the cell is opened;
// transcripts are pooled in "t-K" blobs (the reference run is shared by targets).
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const blob = (id) => { const el = document.getElementById(id); return el ? JSON.parse(el.textContent) : null; };
  const meta = blob("qmc-meta");
  const pool = new Map();
  const transcript = (key) => {
    if (key === null || key === undefined) return null;
    if (!pool.has(key)) pool.set(key, blob("t-" + key));
    return pool.get(key);
  };

  // -- bytes (latin-1 strings, one char per byte) shown with visible escapes -----------------
  const HTML = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" };
  const esc = (text) => String(text).replace(/[&<>"]/g, (c) => HTML[c]);
  const NAMED = { "\r": "\\r", "\n": "\\n", "\t": "\\t", "\0": "\\0", "\\": "\\\\" };
  const text = (v) => (v && typeof v === "object" && "cut" in v ? v.cut : v === null || v === undefined ? "" : String(v));

  function bytesHtml(s) {
    let out = "", plain = "";
    for (let i = 0; i < s.length; i++) {
      const ch = s[i], c = s.charCodeAt(i);
      if (c >= 0x20 && c < 0x7f && ch !== "\\") { plain += ch; continue; }
      out += esc(plain); plain = "";
      const name = NAMED[ch] || "\\x" + c.toString(16).padStart(2, "0");
      const cls = c >= 0x80 ? "e8" : ch === "\r" || ch === "\n" ? "eol" : ch === "\\" ? "" : "ec";
      out += '<span class="esc ' + cls + '">' + esc(name) + "</span>";  // lines are blocks: no raw LF
    }
    return out + esc(plain);
  }
  const lines = (s) => s.match(/[^\n]*\n|[^\n]+$/g) || [];

  // Lines of a and b outside their longest common subsequence: what differs, as index sets.
  function lineDiff(a, b) {
    const n = a.length, m = b.length, da = new Set(), db = new Set();
    if (n * m > 250000) {  // too big for the table: compare position by position
      for (let i = 0; i < Math.max(n, m); i++) if (a[i] !== b[i]) { da.add(i); db.add(i); }
      return [da, db];
    }
    const L = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--)
      for (let j = m - 1; j >= 0; j--)
        L[i][j] = a[i] === b[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
    let i = 0, j = 0;
    while (i < n && j < m) {
      if (a[i] === b[j]) { i++; j++; } else if (L[i + 1][j] >= L[i][j + 1]) da.add(i++); else db.add(j++);
    }
    while (i < n) da.add(i++);
    while (j < m) db.add(j++);
    return [da, db];
  }

  // A byte string as a block of lines; `marked` is a Set of line numbers to highlight.
  function block(value, marked, dir) {
    const s = text(value);
    const label = dir ? '<span class="dir">' + dir + "</span>" : "";
    const body = lines(s).map((ln, k) =>
      '<span class="ln' + (marked && marked.has(k) ? " mark" : "") + '">' + bytesHtml(ln) + "</span>").join("");
    const cut = value && typeof value === "object" && "cut" in value
      ? '<span class="cut">&hellip; ' + (value.len - value.cut.length) + " more bytes in the JSON file</span>" : "";
    return '<div class="bytes' + (dir === "C:" ? " sent" : "") + '">' + label + '<div class="lines">' + body + cut +
      "</div></div>";
  }

  // Which received lines differ at a step, from the difference record (normalized text):
  // normalization rewrites inside lines, so line numbers carry over to the raw bytes.
  function replyMarks(rec, refRaw, tgtRaw) {
    if (!rec) return [null, null, false];
    const r = text(rec.reference), t = text(rec.target);
    if (r === "(nothing)" || t === "(nothing)") return [null, null, true];
    const [da, db] = lineDiff(lines(r), lines(t));
    const fits = lines(text(refRaw)).length === lines(r).length && lines(text(tgtRaw)).length === lines(t).length;
    return fits ? [da, db, false] : [null, null, true];
  }

  function exchangeCell(ex, marks, all, side, eventDiffers) {
    if (!ex) return '<td class="' + side + (all ? " mark-all" : "") + '"><span class="none-here">(no such step)</span></td>';
    let h = "";
    if (text(ex.sent)) h += block(ex.sent, null, "C:");
    h += text(ex.received) ? block(ex.received, marks, "S:") : '<div class="none-here">(no reply)</div>';
    if (ex.event) h += '<span class="event' + (eventDiffers ? " mark" : "") + '">' + esc(ex.event) + "</span>";
    return '<td class="' + side + (all ? " mark-all" : "") + '">' + h + "</td>";
  }

  // An observation: bytes, a list of them, or (queue) a list of [message, envelope] pairs.
  const PAIRS = { queue: ["message", "envelope"] };
  function valueHtml(v, key, labels) {
    if (Array.isArray(v)) {
      if (!v.length) return '<span class="none-here">(none)</span>';
      return v.map((x, k) => {
        const label = labels ? labels[k] : v.length > 1 ? "#" + (k + 1) : "";
        const inner = !labels && Array.isArray(x) && x.length === 2 ? PAIRS[key] : null;
        return (label ? '<div class="label">' + esc(label) + "</div>" : "") + valueHtml(x, key, inner);
      }).join("");
    }
    if (v && typeof v === "object" && !("cut" in v)) {
      return Object.keys(v).map((k) => "<div><b>" + esc(k) + "</b> " + valueHtml(v[k], k) + "</div>").join("");
    }
    if (typeof v === "number" || typeof v === "boolean") return "<code>" + esc(v) + "</code>";
    return text(v) === "" ? '<span class="none-here">(empty)</span>' : block(v, null, "");
  }

  function sideBySide(cell, ref, tgt) {
    const diffs = cell.differences || [];
    const at = (step, field) => diffs.find((d) => d.step === step && d.field === field);
    const rex = ref ? ref.exchanges : [], tex = tgt ? tgt.exchanges : [];
    let rows = "";
    for (let i = 0; i < Math.max(rex.length, tex.length); i++) {
      const r = rex[i], t = tex[i], step = (r || t).step, kind = (r || t).kind;
      const rec = at(step, "reply"), ev = at(step, "event");
      const [mr, mt, all] = replyMarks(rec, r && r.received, t && t.received);
      rows += '<tr class="exchange' + (rec || ev ? " differs" : "") + '" data-step="' + step + '"><th>step ' + step +
        '<span class="kind">' + esc(kind) + "</span></th>" + exchangeCell(r, mr, all, "ref", !!ev) +
        exchangeCell(t, mt, all, "tgt", !!ev) + "</tr>";
    }
    const other = (label, field, rv, tv) => {
      const d = field && diffs.find((x) => x.step === null && x.field === field);
      return '<tr class="' + (d ? "differs" : "") + '"><th>' + esc(label) + '</th><td class="ref' + (d ? " mark-all" : "") +
        '">' + valueHtml(rv, label) + '</td><td class="tgt' + (d ? " mark-all" : "") + '">' + valueHtml(tv, label) +
        "</td></tr>";
    };
    if (ref || tgt) {
      rows += other("exit", "exit", ref ? ref.exit : null, tgt ? tgt.exit : null);
      const keys = new Set([...Object.keys((ref && ref.observations) || {}), ...Object.keys((tgt && tgt.observations) || {})]);
      for (const k of [...keys].sort()) rows += other(k, k, ref && ref.observations[k], tgt && tgt.observations[k]);
      rows += other("stderr", null, ref ? ref.stderr : "", tgt ? tgt.stderr : "");
      if ((ref && ref.error) || (tgt && tgt.error)) rows += other("error", null, ref ? ref.error : "", tgt ? tgt.error : "");
    }
    const head = (t, who) => t ? esc(who) + " &middot; eQmail " + esc(t.version) + " &middot; " + esc(t.seconds) + " s" : esc(who);
    return '<table class="side"><colgroup><col class="step"><col><col></colgroup><thead><tr><th></th>' +
      '<th class="ref">reference: ' + head(ref, ref ? ref.target : "") + '</th><th class="tgt">target: ' +
      head(tgt, cell.target) + "</th></tr></thead><tbody>" + rows + "</tbody></table>";
  }

  function differences(cell) {
    const diffs = cell.differences || [];
    if (!diffs.length) return "<p>No difference after normalization.</p>";
    const rows = diffs.map((d) => {
      const [da, db] = lineDiff(lines(text(d.reference)), lines(text(d.target)));
      return "<tr><td>" + (d.step === null ? "&ndash;" : "step " + d.step) + "</td><td>" + esc(d.field) +
        '</td><td class="ref">' + block(d.reference, da, "") + '</td><td class="tgt">' + block(d.target, db, "") + "</td></tr>";
    }).join("");
    return '<table class="diffs"><colgroup><col class="step"><col class="field"><col><col></colgroup><thead><tr>' +
      "<th>step</th><th>field</th><th>reference</th><th>target</th></tr></thead><tbody>" + rows + "</tbody></table>";
  }

  // -- the cell view ------------------------------------------------------------------------
  const detail = $("#detail");
  let openedHere = false;

  function openCell(n) {
    const cell = blob("c-" + n);
    if (!cell) { closeCell(); return; }
    const ref = transcript(cell.ref), tgt = transcript(cell.tgt);
    const rules = (cell.normalized_by || []).map((r) => "<li><code>" + esc(r) + "</code> " + esc(meta.rules[r] || "") + "</li>").join("");
    detail.innerHTML =
      '<div class="bar"><h2>' + esc(cell.id) + " " + esc(cell.title) + '</h2><span class="verdict v-' + esc(cell.verdict) +
      '">' + esc(cell.verdict) + (cell.known ? " (known, in the baseline)" : "") + "</span><span>" + esc(cell.target) +
      '</span><button type="button" class="close" title="back to the matrix (Esc)">close</button></div>' +
      '<p class="facts">spec &sect;' + esc(cell.spec) + (cell.tags.length ? " &middot; tags " + esc(cell.tags.join(", ")) : "") +
      ' &middot; <a href="' + esc(cell.file) + '">' + esc(cell.file) + "</a></p>" +
      (cell.reason ? '<p class="reason">' + esc(cell.reason) + "</p>" : "") +
      (cell.problem ? '<p class="problem">' + esc(cell.problem) + "</p>" : "") +
      (ref || tgt ? sideBySide(cell, ref, tgt) : "<p>No transcript: the case did not run on this target.</p>") +
      "<h3>Differences</h3>" + differences(cell) +
      "<h3>Normalization applied</h3>" + (rules ? '<ul class="rules">' + rules + "</ul>" : "<p>none</p>");
    detail.hidden = false;
    detail.scrollTop = 0;
    document.body.classList.add("detail-open");
    $(".close", detail).addEventListener("click", () => {
      if (openedHere) history.back(); else { history.replaceState(null, "", location.pathname + location.search); closeCell(); }
    });
  }
  function closeCell() {
    detail.hidden = true;
    detail.innerHTML = "";
    document.body.classList.remove("detail-open");
  }
  function route() {
    const m = /^#cell-(\d+)$/.exec(location.hash);
    if (m) openCell(m[1]); else closeCell();
  }
  document.addEventListener("click", (e) => {
    const a = e.target.closest && e.target.closest("td.cell a");
    if (a) openedHere = true;
  });
  window.addEventListener("hashchange", route);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !detail.hidden) $(".close", detail).click();
  });

  // -- the filter -----------------------------------------------------------------------------
  const input = $("#filter"), attention = $("#attention"), shown = $("#shown");
  const rows = Array.from(document.querySelectorAll("#matrix tr.case"));
  const bodies = Array.from(document.querySelectorAll("#matrix tbody"));
  const ALIAS = { fail: "failed", err: "error", ns: "non_strict", info: "informational", unimpl: "unimplemented",
    "n/a": "not_applicable", na: "not_applicable" };
  const verdictNames = new Set(meta.verdicts.map((v) => v.toLowerCase()).concat(["known"]));
  const glob = (t) => new RegExp("^" + t.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$");

  function matcher(token) {
    const at = token.indexOf("@");
    const word = at < 0 ? token : token.slice(0, at), target = at < 0 ? undefined : token.slice(at + 1);
    const v = ALIAS[word] || word;
    if (verdictNames.has(v)) {
      if (target !== undefined) {  // verdict@target: that column only (the summary's buttons)
        return (tr) => Array.from(tr.querySelectorAll("td.cell")).some((td) =>
          td.dataset.target.toLowerCase() === target && td.classList.contains("v-" + v.toUpperCase()));
      }
      return (tr) => tr.dataset.verdicts.split(" ").includes(v);
    }
    if (/[*?]/.test(token)) { const rx = glob(token); return (tr) => rx.test(tr.dataset.id); }
    return (tr) => tr.dataset.id.startsWith(token) || tr.dataset.title.includes(token);
  }
  function applyFilter() {
    const tests = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean).map(matcher);
    let n = 0;
    for (const tr of rows) {
      const ok = tests.every((f) => f(tr)) && (!attention.checked || tr.dataset.bad === "1");
      tr.hidden = !ok;
      n += ok ? 1 : 0;
    }
    for (const tb of bodies) if (tb.dataset.category) tb.hidden = !tb.querySelector("tr.case:not([hidden])");
    shown.textContent = n + " of " + rows.length + " cases";
  }
  input.addEventListener("input", applyFilter);
  attention.addEventListener("change", applyFilter);
  document.querySelectorAll("#summary button").forEach((b) => b.addEventListener("click", () => {
    input.value = b.dataset.verdict.toLowerCase() + "@" + b.dataset.target.toLowerCase();
    applyFilter();
    $("#matrix").scrollIntoView();
  }));

  applyFilter();
  route();
})();
