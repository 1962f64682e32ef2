"""The live page's HTML: one self-contained document (no network but its own stream), with
a container for each section the member may see and a small script that draws them from the
server-sent events of `/stream`. Data is only ever written with `textContent` and SVG
attributes, never as HTML, so a fan named `<script>` is just text.
"""

from __future__ import annotations

import html

from ofhq_pipeline.live.scope import Scope

TITLES = {
    "counts": "Live counts",
    "revenue": "Revenue today",
    "purchases": "Latest purchases",
    "creators": "Creators",
    "stages": "Relationship stages",
    "temperature": "Temperature",
    "actions": "Next best actions",
    "flows": "Data flows",
}

STYLE = """
:root { color-scheme: dark; --bg:#0f1420; --card:#171e2e; --ink:#e8ecf4; --dim:#8a94a8;
        --accent:#4fd1a5; --warm:#f6ad55; --hot:#f56565; --cold:#63b3ed; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, sans-serif; background:var(--bg); color:var(--ink); }
header { display:flex; justify-content:space-between; align-items:center; padding:12px 20px;
         border-bottom:1px solid #253047; }
header h1 { font-size:18px; margin:0; }
header form { display:inline; margin-left:12px; }
button { background:#253047; color:var(--ink); border:0; padding:6px 12px; border-radius:6px; }
main { display:grid; grid-template-columns:repeat(auto-fit, minmax(360px, 1fr)); gap:16px;
       padding:16px 20px; }
section { background:var(--card); border-radius:10px; padding:14px 16px; }
section#purchases { grid-column: span 2; }
section h2 { font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--dim);
             margin:0 0 10px; }
.big { font-size:40px; font-weight:700; color:var(--accent); font-variant-numeric:tabular-nums; }
.tiles { display:grid; grid-template-columns:repeat(auto-fit, minmax(110px, 1fr)); gap:10px; }
.tile b { display:block; font-size:22px; font-variant-numeric:tabular-nums; }
.tile span, .dim { color:var(--dim); font-size:12px; }
table { width:100%; border-collapse:collapse; }
td, th { padding:4px 6px; text-align:left; border-bottom:1px solid #232c40; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
tr.fresh { animation: flash 2s ease-out; }
@keyframes flash { from { background:#2f855a; } to { background:transparent; } }
svg text { fill:var(--dim); font-size:11px; }
#status { color:var(--dim); font-size:12px; }
"""

SCRIPT = r"""
const $ = (id) => document.getElementById(id);
const money = (c) => '$' + ((c || 0) / 100).toLocaleString('en-US',
  {minimumFractionDigits: 2, maximumFractionDigits: 2});
const el = (tag, text, cls) => { const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls; return e; };
const NS = 'http://www.w3.org/2000/svg';
const svg = (tag, attrs) => { const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v); return e; };
const COLORS = {HOT:'#f56565', WARM:'#f6ad55', COOLING:'#ecc94b', COLD:'#63b3ed',
                ICE_COLD:'#4a5568'};
let seen = new Set();

function body(name) { const s = $(name); const b = s.querySelector('.body');
  b.replaceChildren(); return b; }

function table(parent, header, rows, numeric) {
  const t = el('table'); const h = el('tr');
  header.forEach((c, i) => h.append(el('th', c, numeric.includes(i) ? 'num' : '')));
  t.append(h);
  rows.forEach((r) => { const tr = el('tr'); if (r.fresh) tr.className = 'fresh';
    r.cells.forEach((c, i) => tr.append(el('td', c, numeric.includes(i) ? 'num' : '')));
    t.append(tr); });
  parent.append(t);
}

function bars(parent, items, color) {
  const max = Math.max(1, ...items.map((i) => i[1])); const h = 22 * items.length + 4;
  const s = svg('svg', {viewBox: `0 0 360 ${h}`, width: '100%', role: 'img'});
  items.forEach(([name, n], i) => {
    const y = 22 * i + 2; const w = Math.round(220 * n / max);
    s.append(svg('rect', {x: 110, y: y, width: Math.max(w, 1), height: 16, rx: 3,
                          fill: (color && color(name)) || '#4fd1a5'}));
    const label = svg('text', {x: 0, y: y + 12}); label.textContent = name; s.append(label);
    const value = svg('text', {x: 114 + w, y: y + 12}); value.textContent = n.toLocaleString();
    s.append(value);
  });
  parent.append(s);
}

function ring(parent, items) {
  const total = items.reduce((a, i) => a + i[1], 0) || 1;
  const s = svg('svg', {viewBox: '0 0 360 140', width: '100%', role: 'img'});
  let angle = -Math.PI / 2; const cx = 70, cy = 70, r = 52;
  items.forEach(([name, n]) => {
    const a = 2 * Math.PI * n / total; if (n <= 0) return;
    const end = angle + Math.min(a, 2 * Math.PI - 1e-6);
    const large = end - angle > Math.PI ? 1 : 0;
    const d = `M ${cx + r * Math.cos(angle)} ${cy + r * Math.sin(angle)} A ${r} ${r} 0 ` +
              `${large} 1 ${cx + r * Math.cos(end)} ${cy + r * Math.sin(end)}`;
    s.append(svg('path', {d, stroke: COLORS[name] || '#888', 'stroke-width': 22,
                          fill: 'none'}));
    angle = end;
  });
  items.forEach(([name, n], i) => {
    s.append(svg('rect', {x: 160, y: 18 + 22 * i, width: 12, height: 12,
                          fill: COLORS[name] || '#888'}));
    const t = svg('text', {x: 180, y: 28 + 22 * i});
    t.textContent = `${name} ${n.toLocaleString()}`; s.append(t);
  });
  parent.append(s);
}

function revenueChart(parent, days) {
  const max = Math.max(1, ...days.map((d) => d[1])); const w = 360 / Math.max(days.length, 1);
  const s = svg('svg', {viewBox: '0 0 360 120', width: '100%', role: 'img'});
  days.forEach(([day, cents], i) => {
    const h = Math.round(100 * cents / max);
    const bar = svg('rect', {x: i * w + 1, y: 104 - h, width: Math.max(w - 2, 1), height: h,
                             fill: i === days.length - 1 ? '#4fd1a5' : '#2c7a7b'});
    const tip = svg('title'); tip.textContent = `${day}: ${money(cents)}`; bar.append(tip);
    s.append(bar);
  });
  if (days.length) { const t = svg('text', {x: 0, y: 118}); t.textContent = days[0][0];
    s.append(t); const e = svg('text', {x: 290, y: 118}); e.textContent = days.at(-1)[0];
    s.append(e); }
  parent.append(s);
}

const DRAW = {
  counts(d) { const b = body('counts'); const tiles = el('div', null, 'tiles');
    [['Creators', d.creators.toLocaleString()], ['Fans', d.fans.toLocaleString()],
     ['Paying fans', d.paying_fans.toLocaleString()],
     ['Revenue today', money(d.revenue_today_cents)],
     ['Purchases today', d.purchases_today.toLocaleString()]].forEach(([k, v]) => {
       const t = el('div', null, 'tile'); t.append(el('b', v)); t.append(el('span', k));
       tiles.append(t); });
    b.append(tiles); },
  revenue(d) { const b = body('revenue');
    b.append(el('div', money(d.today_cents), 'big'));
    b.append(el('div', `net ${money(d.net_today_cents)}`, 'dim'));
    revenueChart(b, d.days);
    table(b, ['creator', 'today', 'purchases'], d.by_creator.map((r) => ({cells:
      [r.creator_id, money(r.gross_cents), r.purchase_count]})), [1, 2]); },
  purchases(d) { const b = body('purchases');
    const hasTemp = d.some((p) => 'temperature' in p);
    const header = ['when', 'creator', 'fan', 'type', 'amount', 'lifetime', 'range'];
    if (hasTemp) header.push('temperature');
    table(b, header, d.map((p) => { const key = `${p.creator_id}:${p.fan_id}:${p.created_at}`;
      const fresh = !seen.has(key); seen.add(key);
      const cells = [p.created_at ? p.created_at.slice(11, 19) : '', p.creator_id,
        p.fan || `fan ${p.fan_id}`, p.type, money(p.amount_cents),
        money(p.lifetime_spend_cents), p.price_range || ''];
      if (hasTemp) cells.push(p.temperature || '');
      return {cells, fresh}; }), [4, 5]); },
  creators(d) { table(body('creators'), ['creator', 'fans', 'paying', 'today', 'lifetime'],
    d.map((r) => ({cells: [r.username || r.creator_id, r.fans.toLocaleString(),
      r.paying_fans.toLocaleString(), money(r.today_cents), money(r.lifetime_revenue_cents)]})),
    [1, 2, 3, 4]); },
  stages(d) { bars(body('stages'), d); },
  temperature(d) { ring(body('temperature'), d); },
  actions(d) { bars(body('actions'), d, () => '#9f7aea'); },
  flows(d) { table(body('flows'), ['flow', 'last run', 'status', 'creator'],
    d.map((f) => ({cells: [f.flow, f.at ? f.at.slice(0, 19).replace('T', ' ') : 'never',
      f.status, f.creator_id || '']})), []); },
};

function render(view) {
  for (const [name, data] of Object.entries(view.sections)) {
    if ($(name) && DRAW[name]) DRAW[name](data);
  }
  $('status').textContent = `live · ${view.as_of.slice(11, 19)} UTC` +
    (view.published_at ? ` · published ${view.published_at.slice(0, 19).replace('T', ' ')}` : '');
}

function connect() {
  const source = new EventSource('/stream');
  source.onmessage = (e) => render(JSON.parse(e.data));
  source.onerror = () => { $('status').textContent = 'reconnecting…'; };
}
connect();
"""


def render_page(member: str, roles: tuple[str, ...], scope: Scope, csrf: str, nonce: str) -> str:
    sections = "\n".join(
        f'<section id="{name}"><h2>{html.escape(TITLES[name])}</h2>'
        f'<div class="body dim">waiting for data…</div></section>'
        for name in TITLES if scope.shows(name)
    )
    who = f"{member} ({', '.join(roles)})"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>System Intelligence · live</title>
<style nonce="{nonce}">{STYLE}</style></head>
<body>
<header><h1>System Intelligence <span id="status">connecting…</span></h1>
<div><span id="member">{html.escape(who)}</span>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{html.escape(csrf)}">
<button type="submit">Sign out</button></form></div></header>
<main>
{sections}
</main>
<script nonce="{nonce}">{SCRIPT}</script>
</body></html>"""
