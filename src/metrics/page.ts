/**
 * The live status page's HTML and style sheet. The page holds no data: its
 * script (`/status.js`, see `page_script.ts`) fetches the status document
 * and renders every name as text, so nothing from the network is ever
 * parsed as markup, and the Content-Security-Policy forbids inline script.
 *
 * @module
 */

/**
 * The Content-Security-Policy of every response: only this origin's own
 * script, style and connections; no inline script, no frames, no forms.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The page (`/`).
 *
 * @example
 * ```ts
 * import { PAGE_HTML } from "./page.ts";
 * if (!PAGE_HTML.includes('<script src="/status.js" defer></script>')) {
 *   throw new Error();
 * }
 * ```
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tftpd status</title>
<link rel="stylesheet" href="/status.css">
<script src="/status.js" defer></script>
</head>
<body>
<header>
  <h1>tftpd</h1>
  <span id="build"></span>
  <span id="conn" class="conn">connecting…</span>
</header>
<main>
<section id="summary" class="cards" aria-label="Totals"></section>
<section>
  <h2>Throughput <span class="legend"><i class="key read"></i>read <i class="key write"></i>write</span></h2>
  <canvas id="chart" width="960" height="180" role="img" aria-label="Throughput over the last minutes"></canvas>
</section>
<section>
  <h2>Active transfers <span id="active-count" class="count">0</span></h2>
  <table id="active">
    <thead><tr><th>Peer</th><th>File</th><th>Dir</th><th>Options</th><th class="progress">Progress</th><th>Bytes</th><th>Rate</th><th>Elapsed</th><th>Thread</th></tr></thead>
    <tbody></tbody>
  </table>
</section>
<section>
  <h2>Recent transfers <span id="recent-count" class="count">0</span></h2>
  <table id="recent">
    <thead><tr><th>Ended</th><th>Peer</th><th>File</th><th>Dir</th><th>Bytes</th><th>Duration</th><th>Rate</th><th>Retr.</th><th>Outcome</th><th>Error</th></tr></thead>
    <tbody></tbody>
  </table>
</section>
<section>
  <h2>Failures</h2>
  <table id="failures">
    <thead><tr><th>Kind</th><th>What</th><th>Count</th></tr></thead>
    <tbody></tbody>
  </table>
</section>
</main>
</body>
</html>
`;

/**
 * The page's style sheet (`/status.css`).
 *
 * @example
 * ```ts
 * import { PAGE_CSS } from "./page.ts";
 * if (!PAGE_CSS.includes(".outcome-error")) throw new Error();
 * ```
 */
export const PAGE_CSS = `:root {
  color-scheme: light;
  --fg: #1d232a; --muted: #5e6b78; --line: #dfe3e8; --bg: #f6f7f9; --card: #fff;
  --read: #2f6fd6; --write: #d9822b; --ok: #1f8a4c; --bad: #c9302c; --warn: #b7791f;
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 1em; padding: .6em 1.2em; background: #20262e; color: #fff; }
header h1 { margin: 0; font-size: 1.3em; }
#build { color: #aab4bf; font-size: .9em; }
.conn { margin-left: auto; font-size: .9em; padding: .1em .6em; border-radius: 1em; background: #59626d; }
.conn.live { background: var(--ok); }
.conn.polling { background: var(--warn); }
.conn.down { background: var(--bad); }
main { padding: .4em 1.2em 2em; }
h2 { font-size: 1.05em; margin: 1.2em 0 .4em; display: flex; gap: .6em; align-items: baseline; }
.count { color: var(--muted); font-weight: normal; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(9.5em, 1fr)); gap: .6em; margin-top: 1em; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .5em .8em; }
.card .v { font-size: 1.35em; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .k { color: var(--muted); font-size: .85em; }
.card.bad .v { color: var(--bad); }
canvas { width: 100%; height: 180px; background: var(--card); border: 1px solid var(--line); border-radius: 6px; display: block; }
.legend { font-weight: normal; color: var(--muted); font-size: .9em; }
.key { display: inline-block; width: 1.4em; height: .35em; vertical-align: middle; margin: 0 .3em 0 .6em; }
.key.read { background: var(--read); }
.key.write { background: var(--write); }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); table-layout: auto; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { background: #eef1f4; font-weight: 600; font-size: .9em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.file { white-space: pre-wrap; overflow-wrap: anywhere; min-width: 14em; max-width: 28em; font-family: ui-monospace, monospace; font-size: .92em; }
td.error { white-space: normal; max-width: 24em; color: var(--muted); }
td.options { white-space: normal; max-width: 14em; color: var(--muted); font-size: .92em; }
td.empty { color: var(--muted); text-align: center; padding: .8em; }
th.progress, td.progress { width: 14em; }
td.progress progress { width: 8em; height: .9em; vertical-align: middle; }
td.progress span { margin-left: .4em; font-variant-numeric: tabular-nums; }
.dir-read { color: var(--read); }
.dir-write { color: var(--write); }
.outcome { font-weight: 600; }
.outcome-ok { color: var(--ok); }
.outcome-error { color: var(--bad); }
.outcome-timeout { color: var(--warn); }
.outcome-aborted, .outcome-cancelled { color: var(--muted); }
.outcome-probe { color: var(--read); }
`;
