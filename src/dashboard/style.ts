/**
 * @module
 * The dashboard's stylesheet, inlined in the page under the CSP nonce. Colours
 * are custom properties so the SVG chart follows light and dark schemes; the
 * CSP allows no `style` attributes, so everything dynamic is a class.
 */
export const CSS = `
:root{color-scheme:light dark;--bg:#f4f5f7;--panel:#fff;--fg:#16181d;--muted:#5d6470;--line:#dfe2e7;--accent:#2356d0;
--stable:#2f6fdb;--canary:#e0590b;--weight:#7048e8;--ok:#2b8a3e;--warn:#a86a00;--bad:#c92a2a;
--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
@media (prefers-color-scheme:dark){:root{--bg:#0e1014;--panel:#161a21;--fg:#e5e7eb;--muted:#9aa3b0;--line:#2a303b;--accent:#6ea2ff;
--stable:#5b9bff;--canary:#ff922b;--weight:#9f86ff;--ok:#51cf66;--warn:#f0b400;--bad:#ff6b6b}}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
button,input,select{font:inherit;color:inherit}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.top{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:baseline;padding:10px 20px;background:var(--panel);border-bottom:1px solid var(--line)}
.brand{font-weight:700;font-size:16px;letter-spacing:.02em}
.spacer{flex:1}
.muted{color:var(--muted)}
.small{font-size:12px}
.num,code,time,dd{font-family:var(--mono);font-variant-numeric:tabular-nums}
code{font-size:12px;word-break:break-all}
.layout{display:grid;grid-template-columns:minmax(220px,280px) minmax(0,1fr);gap:16px;padding:16px 20px;max-width:1440px;margin:0 auto}
@media (max-width:880px){.layout{grid-template-columns:minmax(0,1fr);padding:12px}}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:14px 16px;min-width:0}
.stack{display:grid;gap:16px;min-width:0}
h1{font-size:20px;margin:0;font-family:var(--mono);word-break:break-all}
h2{font-size:12px;text-transform:uppercase;letter-spacing:.07em;color:var(--muted);margin:0 0 10px}
.msg{margin:12px 20px 0;padding:10px 12px;border-radius:6px;border:1px solid var(--bad);background:color-mix(in srgb,var(--bad) 9%,var(--panel))}
.msg ul{margin:6px 0 0;padding-left:20px}
.ok-msg{border-color:var(--ok);background:color-mix(in srgb,var(--ok) 9%,var(--panel))}
.stack>.msg{margin:0}
#rollout-list{list-style:none;margin:0;padding:0;display:grid;gap:4px}
#rollout-list a{display:grid;grid-template-columns:minmax(0,1fr) auto;gap:2px 8px;align-items:center;padding:8px 10px;border-radius:6px;
border:1px solid transparent;color:inherit;text-decoration:none}
#rollout-list a:hover{background:var(--bg)}
#rollout-list a[aria-current=true]{border-color:var(--accent);background:color-mix(in srgb,var(--accent) 8%,var(--panel))}
.rid{font-family:var(--mono);font-weight:600;overflow-wrap:anywhere}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;font-weight:600;white-space:nowrap;
border:1px solid currentColor;background:color-mix(in srgb,currentColor 11%,transparent)}
.big-badge{font-size:14px;padding:2px 12px}
.phase-idle{color:var(--muted)}.phase-progressing{color:var(--accent)}.phase-paused{color:var(--warn)}
.phase-awaiting-approval{color:var(--weight)}.phase-promoted{color:var(--ok)}.phase-rolled-back{color:var(--bad)}
.title-row{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin-bottom:12px}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px 18px;margin:0}
.facts dt{font-size:12px;color:var(--muted)}
.facts dd{margin:2px 0 0;font-size:15px;overflow-wrap:anywhere}
.facts .wide{grid-column:1/-1}
.big{font-size:24px;font-weight:600}
.bar{display:block;width:100%;height:6px;margin-top:4px}
.bar-bg{fill:var(--line)}.bar-fg{fill:var(--weight)}
.steps{display:flex;flex-wrap:wrap;gap:6px;list-style:none;margin:0;padding:0}
.steps li{display:flex;gap:6px;align-items:baseline;padding:2px 8px;border:1px solid var(--line);border-radius:6px}
.steps li.past{color:var(--muted)}
.steps li.on{border-color:var(--accent);box-shadow:inset 0 0 0 1px var(--accent)}
.gate{font-size:11px;font-weight:600;color:var(--weight)}
.steps li.ring{border-style:dashed;border-color:var(--canary)}
.steps li.ring.on{box-shadow:inset 0 0 0 1px var(--canary)}
.ring-label{font-family:var(--mono);font-size:11px;font-weight:600;color:var(--canary);overflow-wrap:anywhere}
.rings{display:flex;flex-wrap:wrap;gap:2px 10px;margin-top:6px;font-size:12px}
.ring-verdicts{list-style:none;margin:8px 0 0;padding:0;display:grid;gap:6px}
.ring-verdicts li{padding:6px 8px;border:1px dashed var(--line);border-radius:6px}
.figures{margin-top:8px;display:grid;gap:6px}
.cohorts{border-collapse:collapse;font-size:12px;width:max-content;max-width:100%}
.cohorts th,.cohorts td{padding:2px 10px 2px 0;text-align:left;vertical-align:baseline}
.cohorts thead th{color:var(--muted);font-weight:600}
.cohorts tbody th{color:var(--muted);font-weight:400;font-family:var(--mono)}
.cohorts td{font-family:var(--mono);font-variant-numeric:tabular-nums}
.cohorts td[data-cohort=stable]{border-left:2px solid var(--stable);padding-left:6px}
.cohorts td[data-cohort=canary]{border-left:2px solid var(--canary);padding-left:6px}
.rating{font-family:system-ui,sans-serif;font-size:11px;font-weight:600}
.rating-good{color:var(--ok)}.rating-needs-improvement{color:var(--warn)}.rating-poor{color:var(--bad)}
.first-errors p{margin:0}
.first-errors ul{margin:2px 0 0;padding-left:18px;display:grid;gap:2px}
.first-errors li{display:flex;flex-wrap:wrap;gap:2px 8px;align-items:baseline}
.new-mark{color:var(--bad);font-size:11px}
.verdict-differs{color:var(--bad)}.verdict-noise,.verdict-ignored{color:var(--muted)}.verdict-pending{color:var(--warn)}.verdict-clean{color:var(--ok)}
.diff-route{margin-top:10px}
.diff-route p{margin:0 0 4px}
.route{font-weight:600}
.diff-fields{border-collapse:collapse;font-size:12px;width:100%}
.diff-fields th,.diff-fields td{padding:3px 10px 3px 0;text-align:left;vertical-align:top;border-top:1px solid var(--line)}
.diff-fields thead th{color:var(--muted);font-weight:600;border-top:0}
.diff-fields tbody th{font-weight:400;overflow-wrap:anywhere}
.example{display:grid;gap:2px}
.example code{white-space:pre-wrap}
.example code[data-cohort=stable]{border-left:2px solid var(--stable);padding-left:4px}
.example code[data-cohort=canary]{border-left:2px solid var(--canary);padding-left:4px}
.commands{display:flex;flex-wrap:wrap;gap:8px;align-items:center}
.commands .sep{width:1px;align-self:stretch;background:var(--line);margin:0 4px}
.reason-row{display:flex;gap:8px;align-items:center;margin-top:10px}
.reason-row input{flex:1;min-width:0}
button{padding:6px 12px;border-radius:6px;border:1px solid var(--line);background:var(--panel);cursor:pointer}
button:hover:not(:disabled){border-color:var(--accent)}
button:disabled{opacity:.45;cursor:not-allowed}
.primary{background:var(--accent);border-color:var(--accent);color:#fff}
.danger{border-color:var(--bad);color:var(--bad);font-weight:600}
dialog .danger{background:var(--bad);color:#fff}
.link{border:0;background:none;padding:0;color:var(--accent);text-decoration:underline;cursor:pointer}
input,select{padding:6px 8px;border:1px solid var(--line);border-radius:6px;background:var(--bg)}
input[type=number]{width:7em;font-family:var(--mono)}
.chart-head{display:flex;justify-content:space-between;align-items:baseline;gap:10px;flex-wrap:wrap}
.chart{display:block;width:100%;height:auto}
.chart text{font:11px var(--mono);fill:var(--muted)}
.chart .ptitle{font:600 12px system-ui,sans-serif;fill:var(--fg)}
.chart .empty{font:13px system-ui,sans-serif}
.chart .grid{stroke:var(--line);stroke-width:1}
.chart .axis{stroke:var(--muted);stroke-width:1}
.chart .line{fill:none;stroke-width:1.8;stroke-linejoin:round;stroke-linecap:round}
.chart .line.stable,.swatch.stable,.dot.stable{stroke:var(--stable);fill:var(--stable)}
.chart .line.canary,.swatch.canary,.dot.canary{stroke:var(--canary);fill:var(--canary)}
.chart .line.weight,.swatch.weight,.dot.weight{stroke:var(--weight);fill:var(--weight)}
.chart .line.stable,.chart .line.canary,.chart .line.weight{fill:none}
.chart .area{fill:var(--weight);fill-opacity:.14;stroke:none}
.latest{margin:6px 0 0;font-size:12px;color:var(--muted)}
#history{list-style:none;margin:0;padding:0}
.entry{padding:10px 0;border-top:1px solid var(--line)}
.entry:first-child{border-top:0;padding-top:0}
.entry-head{display:flex;flex-wrap:wrap;gap:4px 12px;align-items:baseline}
.kind{font-family:var(--mono);font-weight:700}
.kind-rollback,.kind-delete{color:var(--bad)}.kind-promote,.kind-complete,.kind-advance{color:var(--ok)}
.kind-healthy{color:var(--ok)}.kind-gate,.kind-approve{color:var(--weight)}.kind-pause,.kind-weight{color:var(--warn)}.kind-hold{color:var(--muted)}
.kind-start,.kind-resume,.kind-create,.kind-replace{color:var(--accent)}
.reason{margin:4px 0 0;overflow-wrap:anywhere}
.kv{display:flex;flex-wrap:wrap;gap:4px;margin:6px 0 0;font-size:12px}
.kv div{display:flex;gap:6px;padding:1px 6px;border:1px solid var(--line);border-radius:4px;background:var(--bg);max-width:100%}
.kv dt{color:var(--muted);font-family:var(--mono)}
.kv dd{margin:0;overflow-wrap:anywhere}
.token{max-width:440px;margin:48px auto;display:grid;gap:10px}
.token input{width:100%}
dialog{border:1px solid var(--line);border-radius:10px;padding:20px;width:min(460px,92vw);background:var(--panel);color:var(--fg)}
dialog::backdrop{background:rgb(0 0 0/.45)}
dialog h2{font-size:16px;text-transform:none;letter-spacing:0;color:var(--fg)}
dialog label{display:grid;gap:4px;margin:12px 0}
.dialog-buttons{display:flex;justify-content:flex-end;gap:8px;margin-top:16px}
.error{color:var(--bad);min-height:1em;margin:4px 0 0}
`
