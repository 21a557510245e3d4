/**
 * The live status page's script (`/status.js`): listens to `/api/events`
 * (server-sent events, falling back to polling `/api/status` every two
 * seconds) and renders the status document. Every value from the document
 * goes into the page through `textContent` or a DOM property, never as
 * markup; class names come from fixed lists, not from the document.
 *
 * @module
 */

/**
 * The script's source text.
 *
 * @example
 * ```ts
 * import { PAGE_SCRIPT } from "./page_script.ts";
 * if (PAGE_SCRIPT.includes("innerHTML")) throw new Error("text only");
 * ```
 */
export const PAGE_SCRIPT = String.raw`"use strict";
(function () {
  var OUTCOMES = ["ok", "error", "aborted", "probe", "timeout", "cancelled"];
  var FAILED = ["error", "timeout", "aborted", "cancelled"];
  var REASONS = {
    busy: "server busy", "per-client": "per-client limit",
    "allow-list": "not in allow-list", "no-port": "no transfer port",
    malformed: "malformed request", "not-a-request": "not a request",
    duplicate: "repeated request", remap: "denied by remap rule",
    name: "bad file name", refused: "refused by the server", other: "other"
  };
  var CODES = {
    "0": "not defined", "1": "file not found", "2": "access violation",
    "3": "disk full", "4": "illegal operation", "5": "unknown transfer ID",
    "6": "file exists", "7": "no such user", "8": "option refused",
    other: "other"
  };
  var updates = 0;

  function $(id) { return document.getElementById(id); }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function num(v) { return typeof v === "number" && isFinite(v) ? v : 0; }

  function bytes(n) {
    n = num(n);
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(n < 10 ? 2 : 1)) + " " + units[i];
  }

  function rate(n) { return bytes(n) + "/s"; }

  function duration(s) {
    s = num(s);
    if (s < 1) return Math.round(s * 1000) + " ms";
    if (s < 60) return s.toFixed(1) + " s";
    var m = Math.floor(s / 60);
    var r = Math.floor(s % 60);
    return m + ":" + (r < 10 ? "0" : "") + r + " min";
  }

  function clock(ms) {
    var d = new Date(num(ms));
    function two(x) { return (x < 10 ? "0" : "") + x; }
    return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds());
  }

  function options(o) {
    var out = [];
    if (o && typeof o === "object") {
      Object.keys(o).forEach(function (k) { out.push(k + "=" + o[k]); });
    }
    return out.join(" ");
  }

  function known(list, v, fallback) {
    return list.indexOf(v) >= 0 ? v : fallback;
  }

  function direction(d) {
    var w = d === "write";
    return el("td", w ? "\u2191 write" : "\u2193 read", w ? "dir-write" : "dir-read");
  }

  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (c) { tr.appendChild(c); });
    return tr;
  }

  function emptyRow(table, text) {
    var td = el("td", text, "empty");
    td.colSpan = $(table).tHead.rows[0].cells.length;
    return row([td]);
  }

  function card(key, value, bad) {
    var c = el("div", null, "card" + (bad ? " bad" : ""));
    c.appendChild(el("div", value, "v"));
    c.appendChild(el("div", key, "k"));
    return c;
  }

  function renderSummary(doc) {
    var t = doc.totals;
    var failed = 0;
    FAILED.forEach(function (o) { failed += num(t.outcomes[o]); });
    var refused = 0;
    Object.keys(t.refusals).forEach(function (k) { refused += num(t.refusals[k]); });
    $("summary").replaceChildren(
      card("active", num(doc.activeCount)),
      card("completed", num(t.outcomes.ok)),
      card("failed", failed, failed > 0),
      card("refused", refused, refused > 0),
      card("read", bytes(t.bytes.read)),
      card("written", bytes(t.bytes.write)),
      card("retransmits", num(t.retransmits)),
      card("uptime", duration(doc.uptimeSeconds))
    );
    $("build").textContent = "v" + doc.build.version + " \u00b7 Deno " + doc.build.deno;
  }

  function renderActive(doc) {
    var rows = doc.active.map(function (t) {
      var progress = el("td", null, "progress");
      var bar = document.createElement("progress");
      bar.max = 100;
      if (typeof t.percent === "number") {
        bar.value = t.percent;
        progress.dataset.percent = String(Math.round(t.percent));
      }
      progress.appendChild(bar);
      progress.appendChild(el("span", typeof t.percent === "number" ? t.percent.toFixed(0) + " %" : "size unknown"));
      var tr = row([
        el("td", t.peer, "peer"),
        el("td", t.file, "file"),
        direction(t.direction),
        el("td", options(t.options), "options"),
        progress,
        el("td", bytes(t.bytes) + (typeof t.size === "number" ? " / " + bytes(t.size) : ""), "num bytes"),
        el("td", rate(t.rate), "num"),
        el("td", duration(t.elapsedSeconds), "num"),
        el("td", t.worker === null ? "main" : "worker " + num(t.worker), "thread")
      ]);
      tr.dataset.id = String(num(t.id));
      return tr;
    });
    if (rows.length === 0) rows.push(emptyRow("active", "No transfers running"));
    $("active").tBodies[0].replaceChildren.apply($("active").tBodies[0], rows);
    var n = num(doc.activeCount);
    $("active-count").textContent = n > doc.active.length ? doc.active.length + " of " + n : String(n);
  }

  function renderRecent(doc) {
    var rows = doc.recent.map(function (t) {
      var outcome = known(OUTCOMES, t.outcome, "error");
      var tr = row([
        el("td", clock(t.endedAt), "num"),
        el("td", t.peer, "peer"),
        el("td", t.file, "file"),
        direction(t.direction),
        el("td", bytes(t.bytes), "num bytes"),
        el("td", duration(t.durationSeconds), "num"),
        el("td", rate(t.rate), "num"),
        el("td", num(t.retransmits), "num"),
        el("td", outcome, "outcome outcome-" + outcome),
        el("td", t.error === null ? "" : t.error, "error")
      ]);
      tr.dataset.id = String(num(t.id));
      tr.dataset.outcome = outcome;
      return tr;
    });
    if (rows.length === 0) rows.push(emptyRow("recent", "Nothing finished yet"));
    $("recent").tBodies[0].replaceChildren.apply($("recent").tBodies[0], rows);
    $("recent-count").textContent = String(doc.recent.length);
  }

  function renderFailures(doc) {
    var t = doc.totals;
    var rows = [];
    FAILED.forEach(function (o) {
      if (num(t.outcomes[o]) > 0) rows.push(row([el("td", "outcome"), el("td", o, "outcome outcome-" + o), el("td", num(t.outcomes[o]), "num")]));
    });
    Object.keys(CODES).forEach(function (c) {
      if (num(t.errors[c]) > 0) rows.push(row([el("td", "TFTP error"), el("td", (c === "other" ? "" : c + " ") + CODES[c]), el("td", num(t.errors[c]), "num")]));
    });
    Object.keys(REASONS).forEach(function (r) {
      if (num(t.refusals[r]) > 0) rows.push(row([el("td", "refused"), el("td", REASONS[r]), el("td", num(t.refusals[r]), "num")]));
    });
    if (rows.length === 0) rows.push(emptyRow("failures", "No failures"));
    $("failures").tBodies[0].replaceChildren.apply($("failures").tBodies[0], rows);
  }

  function renderChart(doc) {
    var canvas = $("chart");
    var ratio = window.devicePixelRatio || 1;
    var w = Math.max(300, canvas.clientWidth || 960);
    var h = canvas.clientHeight || 180;
    if (canvas.width !== Math.round(w * ratio)) canvas.width = Math.round(w * ratio);
    if (canvas.height !== Math.round(h * ratio)) canvas.height = Math.round(h * ratio);
    var g = canvas.getContext("2d");
    if (!g) return;
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    var pts = doc.throughput.points;
    var left = 70, right = 10, top = 10, bottom = 22;
    var span = 300;
    var end = num(doc.now);
    var max = 1024;
    pts.forEach(function (p) { max = Math.max(max, num(p[1]), num(p[2])); });
    var step = Math.pow(2, Math.ceil(Math.log2(max / 4)));
    max = step * 4;
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#5e6b78";
    g.strokeStyle = "#dfe3e8";
    g.lineWidth = 1;
    for (var i = 0; i <= 4; i++) {
      var y = top + (h - top - bottom) * (1 - i / 4);
      g.beginPath(); g.moveTo(left, y); g.lineTo(w - right, y); g.stroke();
      g.fillText(rate(step * i), 4, y + 4);
    }
    for (var m = 0; m <= 5; m++) {
      var x = left + (w - left - right) * (1 - m / 5);
      g.fillText(m === 0 ? "now" : "-" + m + " min", x - 14, h - 6);
    }
    function line(index, color) {
      g.strokeStyle = color;
      g.lineWidth = 2;
      g.beginPath();
      var first = true;
      pts.forEach(function (p) {
        var age = (end - num(p[0])) / 1000;
        if (age > span) return;
        var x = left + (w - left - right) * (1 - age / span);
        var y = top + (h - top - bottom) * (1 - num(p[index]) / max);
        if (first) { g.moveTo(x, y); first = false; } else g.lineTo(x, y);
      });
      g.stroke();
    }
    line(1, "#2f6fd6");
    line(2, "#d9822b");
  }

  function render(doc) {
    renderSummary(doc);
    renderActive(doc);
    renderRecent(doc);
    renderFailures(doc);
    renderChart(doc);
    document.title = "tftpd: " + num(doc.activeCount) + " active";
    updates++;
    document.body.dataset.updates = String(updates);
  }

  function status(text, cls) {
    var c = $("conn");
    c.textContent = text;
    c.className = "conn " + cls;
  }

  function accept(text) {
    try { render(JSON.parse(text)); } catch (e) { status("bad update", "down"); }
  }

  function poll() {
    fetch("/api/status", { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.text();
    }).then(function (text) {
      status("polling", "polling");
      accept(text);
    }, function () {
      status("disconnected", "down");
    }).then(function () { setTimeout(poll, 2000); });
  }

  function listen() {
    if (typeof EventSource !== "function") { poll(); return; }
    var source = new EventSource("/api/events");
    source.addEventListener("status", function (e) {
      status("live", "live");
      accept(e.data);
    });
    // The server ends each stream after a while (so a reader that stopped
    // cannot keep its slot) and says so first: open the next one at once.
    source.addEventListener("renew", function () {
      source.close();
      listen();
    });
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        poll();
      } else {
        status("reconnecting…", "down");
      }
    };
  }

  listen();
})();
`;
