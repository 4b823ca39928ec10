# ruff: noqa: E501  (HTML template lines are long on purpose)
"""The Jinja2 template of ``report.html`` (kept in a module so it ships with the package)."""

from __future__ import annotations

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nodouble report: {{ r.target.name }}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
header,main{max-width:1100px;margin:0 auto;padding:16px 24px}
header{border-bottom:1px solid #dde1e7;background:#fff;max-width:none}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0}
th,td{border:1px solid #dde1e7;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#fff;border:1px solid #dde1e7;padding:8px;overflow:auto;white-space:pre-wrap;word-break:break-word;margin:4px 0}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 16px;min-width:110px}
.card b{display:block;font-size:24px}
.passed,.valid-true,.caught{color:#0a7a3d}.failed,.valid-false{color:#b3261e}
.not_applicable,.n-a{color:#6b7280}.error,.valid-unknown{color:#9a6700}
.run{background:#fff;border:1px solid #dde1e7;border-left:6px solid #6b7280;border-radius:6px;padding:8px 16px;margin:14px 0}
.run.s-passed{border-left-color:#0a7a3d}.run.s-failed{border-left-color:#b3261e}.run.s-error{border-left-color:#9a6700}
.badge{font-weight:700;text-transform:uppercase;font-size:12px;white-space:nowrap}
details{margin:6px 0}summary{cursor:pointer;font-weight:600}
img.shot{max-width:100%;border:1px solid #dde1e7;margin:4px 0}
.muted{color:#6b7280}td.ids{word-break:break-all}
.matrix-wrap{overflow-x:auto}
table.matrix{width:auto;font-size:12px}table.matrix th{white-space:nowrap}
table.matrix th.vert{height:190px;vertical-align:bottom;padding:4px 2px}
table.matrix th.vert span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap}
table.matrix td.cell{text-align:center;width:18px;padding:2px;font-weight:700}
.c-caught{background:#d8f3e3;color:#0a7a3d}.c-passed{background:#fff;color:#9ca3af}
.c-error{background:#fff1c2;color:#9a6700}.c-n-a{background:#f1f2f4;color:#9ca3af}
.c-unrelated{background:#fde2e1;color:#b3261e}.named{outline:2px solid #1f2937;outline-offset:-2px}
.b-passed{background:#d8f3e3;color:#0a7a3d}.b-failed,.b-error,.bad{background:#fde2e1;color:#b3261e;font-weight:700}
.b-not-applicable{background:#f1f2f4;color:#9ca3af}
tr.baseline th,tr.baseline td{border-bottom:3px solid #1d2433}
.legend{padding:0 4px;border-radius:3px}
.verdict{border-radius:6px;padding:12px 16px;margin:12px 0;font-size:15px}.verdict b{font-size:20px}
.v-held{background:#d8f3e3;color:#0a5a2d}.v-failed{background:#fde2e1;color:#8c1d18}
#findings li{margin:6px 0}.not-run{background:#fff1c2;color:#8a5a00;padding:0 4px;border-radius:3px}
td.invs a{margin-right:6px;font-size:12px}.seq-wrap{overflow-x:auto;background:#fff;border:1px solid #dde1e7}
{{ seq_css }}
@media print{details{display:block}details>summary{display:none}.seq-wrap{overflow:visible}}
</style>
</head>
<body>
<header>
<h1>nodouble report: {{ r.target.name }}</h1>
<div class="muted">target <code>{{ r.target.base_url }}</code> · started <time datetime="{{ r.started.isoformat() }}">{{ r.started | utc }}</time>
 · finished <time datetime="{{ r.finished.isoformat() }}">{{ r.finished | utc }}</time> · seed {{ r.seed if r.seed is not none else "none" }}
 · schema {{ r.schema_version }} · nodouble {{ r.tool_version }}</div>
</header>
<main>
<section id="first-screen">
<div id="verdict" class="verdict {{ 'v-held' if verdict.held else 'v-failed' }}"><b data-testid="verdict">{{ verdict.headline }}</b><div>{{ verdict.detail }}</div></div>
<div class="cards" id="money">
<div class="card">charges<b data-testid="money-charges">{{ money.charges }}</b></div>
<div class="card">amount charged<b data-testid="money-amount">{{ money.amount() }}</b></div>
<div class="card {{ 'failed' if money.double_charged }}">orders charged more than once<b data-testid="money-twice">{{ money.double_charged }}</b></div>
<div class="card">refunds<b data-testid="money-refunds">{{ money.refunds }}</b></div>
<div class="card passed">passed<b data-testid="passed">{{ s.passed }}</b></div>
<div class="card failed">failed<b data-testid="failed">{{ s.failed }}</b></div>
<div class="card error">error<b data-testid="error">{{ s.error }}</b></div>
<div class="card not_applicable">not applicable<b data-testid="not-applicable">{{ s.not_applicable }}</b></div>
</div>
{% if findings %}<h2>What went wrong</h2>
<ol id="findings">{% for f in findings %}<li data-testid="finding"><a href="#{{ f.anchor }}"><code>{{ f.run.scenario_id }}</code></a> <span class="badge {{ f.run.status }}">{{ f.run.status }}{% if f.run.failure %} ({{ f.run.failure }}){% endif %}</span>: {{ f.sentence }}
<div class="muted">money: {{ f.money }} · reproduce: <code data-testid="reproduce">{{ f.command }}</code></div></li>{% endfor %}</ol>{% endif %}
<h2>What was tested</h2>
<p class="muted" id="coverage-note">Every threat this report knows of ({{ coverage | length }}), each with the scenarios for it and the invariants judged; a threat or scenario no run covered reads <span class="badge not-run">not run</span>: it was not tested here.{% if not_run %} <b class="failed">Not run: {{ not_run | join(', ') }}.</b>{% endif %} Each invariant links to its verdict below.</p>
<table id="coverage"><thead><tr><th>threat</th><th>scenario</th><th>result</th><th>invariants judged (green held, red violated, amber unknown)</th></tr></thead><tbody>
{% for c in coverage %}{% if not c.scenarios %}<tr id="{{ c.anchor }}"><td><b>{{ c.threat }}</b> <span class="badge not-run">not run</span>{% if c.text %}<div class="muted">{{ c.text }}</div>{% endif %}</td><td colspan="3" class="failed">no scenario of the catalog covers it</td></tr>
{% else %}{% for sc in c.scenarios %}<tr{% if loop.first %} id="{{ c.anchor }}"{% endif %}>{% if loop.first %}<td rowspan="{{ c.scenarios | length }}"><b>{{ c.threat }}</b>{% if not c.run %} <span class="badge not-run">not run</span>{% endif %}{% if c.text %}<details><summary>the threat</summary><span class="muted">{{ c.text }}</span></details>{% endif %}</td>{% endif %}
<td>{% if sc.anchor %}<a href="#{{ sc.anchor }}">{{ sc.scenario }}</a>{% else %}{{ sc.scenario }}{% endif %}</td><td><span class="badge {{ sc.status | replace(' ', '-') }}">{{ sc.status | replace('_', ' ') }}</span></td>
<td class="invs">{% for j in sc.invariants %}<a class="valid-{{ j.valid }}" href="#{{ j.anchor }}">{{ j.name }}</a> {% endfor %}</td></tr>
{% endfor %}{% endif %}{% endfor %}</tbody></table>
</section>
<h2>Summary</h2>
<p id="summary">{{ s.passed }} passed, {{ s.failed }} failed, {{ s.error }} in error, {{ s.not_applicable }} not applicable; <span data-testid="charges">{{ s.charges }}</span> charge(s) counted across the run.</p>
{% if r.unattributed %}<h2>Charges no scenario owns</h2>
<p class="failed"><b>{{ r.unattributed | length }} ledger row(s)</b> were written after every scenario ended, under no order the harness created: the run fails on them.</p>
<table><thead><tr><th>id</th><th>kind</th><th>amount</th><th>currency</th><th>metadata</th><th>account</th></tr></thead><tbody>
{% for row in r.unattributed %}<tr><td><code>{{ row.id }}</code></td><td>{{ row.kind }}</td><td>{{ row.amount }}</td><td>{{ row.currency }}</td><td><code>{{ row.metadata | tojson }}</code></td><td>{{ row.account }}</td></tr>
{% endfor %}</tbody></table>{% endif %}

<h2>Environment</h2>
<table><tbody>
<tr><th>python</th><td>{{ r.environment.python }}</td></tr>
<tr><th>platform</th><td>{{ r.environment.platform }}</td></tr>
<tr><th>chromium</th><td>{{ r.environment.chromium or "not used" }}</td></tr>
{% for k, v in r.environment.extra.items() %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}
</tbody></table>

{% if matrix %}
<h2>Flaw matrix</h2>
<p id="flaw-verdict" class="{{ 'caught' if matrix.gate() else 'failed' }}"><b>{{ matrix_summary }}</b></p>
{% if matrix.command %}<p class="muted">produced by <code>{{ matrix.command }}</code></p>{% endif %}
<p class="muted">Rows: the checkout with no flaw (baseline), then one deliberate flaw each. Columns: scenarios.
<span class="legend c-caught">&#x2716; caught</span> an invariant named for the flaw (docs/flaws.md) was violated in a scenario named for it ·
<span class="legend c-unrelated">&#x25CB; unrelated</span> the scenario failed, but not that way: listed, never counted as caught ·
<span class="legend c-passed">&middot; passed</span> the flaw went unnoticed there ·
<span class="legend c-error">! error</span> · <span class="legend c-n-a">&ndash; n/a</span> ·
<span class="legend named">outlined</span>: a scenario named for the flaw.
Baseline cells: <span class="legend b-passed">&#x2713; passed</span> <span class="legend b-failed">&#x2716; failed</span>.
A racy flaw's catch rate is caught repeats / repeats (needed: {{ '%.0f' % (matrix.required_rate * 100) }} %).</p>
<div class="matrix-wrap"><table id="flaw-matrix" class="matrix"><thead><tr><th>flaw</th><th>caught by</th><th>catch rate</th>
{% for sc in matrix.scenarios %}<th class="vert" title="{{ sc }}"><span>{{ sc }}</span></th>{% endfor %}</tr></thead>
<tbody>{% if matrix.baseline %}<tr class="baseline"><th>baseline (no flaw)</th>
<td class="{{ 'b-passed' if matrix.baseline_passed() else 'b-failed' }}">{{ 'every scenario passed' if matrix.baseline_passed() else 'FAILED' }}</td><td></td>
{% for sc in matrix.scenarios %}{% set st = matrix.baseline.get(sc, 'n/a') %}<td class="cell b-{{ st | replace('/', '-') | replace('_', '-') }}" title="baseline · {{ sc }}: {{ st }}">{{ {'passed': '✓', 'failed': '✖', 'error': '!'}.get(st, '-') }}</td>{% endfor %}</tr>{% endif %}
{% for row in matrix_rows %}<tr><th title="{{ row.guard }}">{{ row.flaw }}</th>
<td class="{{ 'c-caught' if row.ok else 'bad' }}">{{ row.verdict }}</td><td class="{{ '' if row.rate_ok else 'bad' }}">{{ row.rate }}</td>
{% for cell in row.cells %}<td class="cell c-{{ cell.value | replace('/', '-') }}{{ ' named' if cell.named }}" title="{{ row.flaw }} · {{ cell.scenario }}: {{ cell.value }}{% if cell.named %} (named: {{ cell.named }}){% endif %}">{{ cell.glyph }}</td>{% endfor %}</tr>{% endfor %}</tbody></table></div>
<details open><summary>What each flaw removes and what caught it</summary>
<table class="evidence"><thead><tr><th>flaw</th><th>guard removed</th><th>counts as caught (docs/flaws.md)</th><th>what the scenarios found</th></tr></thead><tbody>
{% for row in matrix_rows %}<tr><th>{{ row.flaw }}</th><td>{{ row.guard }}</td><td>{% for n in row.named %}<div><code>{{ n.scenario }}</code>: {{ n.invariants | join(', ') }}</div>{% endfor %}</td>
<td>{% for e in row.evidence %}<div class="{{ 'bad' if e.cell != 'caught' }}"><code>{{ e.scenario }}</code>{% if e.cell != 'caught' %} ({{ e.cell }}){% endif %}: {{ e.violated | join(', ') if e.violated else e.message }}</div>{% else %}<span class="bad">nothing failed</span>{% endfor %}</td></tr>{% endfor %}
</tbody></table></details>
{% endif %}

<h2>Scenarios</h2>
{% for v in runs %}{% set run = v.run %}
<section class="run s-{{ run.status }}" id="{{ v.anchor }}">
<h3>{{ run.case_name }}: {{ run.title }} <span class="badge {{ run.status }}">{{ run.status | replace('_', ' ') }}</span></h3>
<div>threat <a href="#{{ v.threat_anchor }}">{{ run.threat_id }}</a> · group {{ run.group }}
 · {{ '%.3f' % run.duration_s }} s{% if run.business_keys %} · keys {% for k in run.business_keys %}<code>{{ k }}</code> {% endfor %}{% endif %}</div>
{% if run.reason %}<p><b>reason:</b> {{ run.reason }}</p>{% endif %}

<details{% if run.status in ('failed', 'error') %} open{% endif %}><summary>Sequence: customer, checkout, provider</summary>
<div class="seq-wrap">{{ v.sequence }}</div></details>

{% if v.faults %}<h3>Faults</h3>
<table><thead><tr><th>fault</th><th>aimed at</th><th>fired</th><th>what it did</th></tr></thead><tbody>
{% for f in v.faults %}<tr><td>{{ f.kind }} <code>{{ f.mode }}</code></td><td><code>{{ f.aim }}</code></td>
<td class="valid-{{ (f.fired > 0) | string | lower }}">{{ f.fired }}</td><td>{% for e in f.effects %}{{ e }}<br>{% else %}<b>never fired</b>{% endfor %}</td></tr>
{% endfor %}</tbody></table>{% endif %}

<h3>Verdict</h3>
<table><thead><tr><th>invariant</th><th>severity</th><th>result</th><th>message</th><th>counts</th></tr></thead><tbody>
{% for c in run.checks %}<tr id="v{{ v.number }}-{{ c.name }}"><td><code>{{ c.name }}</code></td><td>{{ c.severity }}</td>
<td class="valid-{{ c.valid | string | lower }}">{{ c.valid | held }}</td><td>{{ c.message }}</td>
<td>{{ c.counts | words }}</td></tr>
{% if c.first is not none %}<tr><td colspan="5">first: <pre>{{ c.first | tojson(indent=2) }}</pre>
{% if c.worst is not none and c.worst != c.first %}worst: <pre>{{ c.worst | tojson(indent=2) }}</pre>{% endif %}</td></tr>{% endif %}
{% else %}<tr><td colspan="5" class="muted">no checker ran</td></tr>{% endfor %}
</tbody></table>

{% if run.status not in ('failed', 'error') %}<p class="muted">Timeline ({{ v.operations }} operations) and HTTP exchanges: in report.json and history.jsonl (run {{ loop.index0 }}), kept out of this page for a run that did not fail.</p>{% else %}
<details{% if run.status == 'failed' %} open{% endif %}><summary>Timeline ({{ v.timeline | length }} operations)</summary>
<table><thead><tr><th>#</th><th>ms</th><th>type</th><th>process</th><th>f</th><th>order</th><th>status</th><th>outcome</th></tr></thead><tbody>
{% for t in v.timeline %}<tr><td>{{ t.index }}</td><td>{{ t.ms }}</td><td>{{ t.type }}</td><td>{{ t.process }}</td>
<td>{{ t.f }}</td><td>{{ t.order }}</td><td>{{ t.status }}</td><td>{{ t.outcome }}</td></tr>{% endfor %}
</tbody></table></details>

<details><summary>HTTP exchanges ({{ v.exchanges | length }})</summary>
{% for x in v.exchanges %}<div><b>op {{ x.index }}</b> {{ x.method }} <code>{{ x.url }}</code> → {{ x.status }}
<pre>{{ x.request }}</pre><pre>{{ x.response }}</pre></div>{% endfor %}
</details>{% endif %}

<details{% if run.status == 'failed' %} open{% endif %}><summary>Provider ledger ({{ run.ledger | length }} rows)</summary>
<table><thead><tr><th>id</th><th>kind</th><th>amount</th><th>currency</th><th>intent</th><th>charge</th><th>metadata</th><th>idempotency key</th></tr></thead><tbody>
{% for row in run.ledger %}<tr><td><code>{{ row.id }}</code></td><td>{{ row.kind }}</td><td>{{ row.amount }}</td><td>{{ row.currency }}</td>
<td class="ids">{{ row.intent_id }}</td><td class="ids">{{ row.charge_id }}</td><td class="ids"><code>{{ row.metadata | tojson }}</code></td><td class="ids">{{ row.idempotency_key }}</td></tr>
{% endfor %}</tbody></table></details>

{% if v.screenshots %}<details open><summary>Screenshots ({{ v.screenshots | length }})</summary>
{% for shot in v.screenshots %}<figure><figcaption><code>{{ shot.path }}</code></figcaption>
{% if shot.src %}<a href="{{ shot.src if not shot.src.startswith('data:') else '#' }}"><img class="shot" loading="lazy" alt="screenshot {{ shot.path }}" src="{{ shot.src }}"></a>{% else %}<p class="muted">{{ shot.problem }}</p>{% endif %}</figure>
{% endfor %}</details>{% endif %}
</section>
{% endfor %}
</main>
</body>
</html>
"""
