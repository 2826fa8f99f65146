/* lambdaguard report: draws every page from the findings document in #lg-data
   (schema lambdaguard.findings/2). The same script can draw a live view from
   the same document fetched over HTTP: nothing here knows where it came from.

   Safety: every value from the document reaches the page through textContent,
   setAttribute on fixed attribute names, or SVG text nodes; never innerHTML.
   Links are built only from fixed prefixes and encodeURIComponent. */
(function report() {
  'use strict';

  // -- where the document comes from (the one part that knows) -------------------
  // A report file carries it in #lg-data. The live view (`lambdaguard serve`, /ui)
  // leaves that block empty and names the JSON API in its data-src: fetch it, put
  // it in the block, and run this script again to draw as from a file. A 401 (the
  // session ended) goes to data-login.
  if (!document.getElementById('lg-data').textContent && document.getElementById('lg-data').getAttribute('data-src')) {
    (function (source, main) {
      main.setAttribute('aria-busy', 'true');
      main.textContent = 'Loading the findings\u2026';
      fetch(source.getAttribute('data-src'), { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
        .then(function (r) {
          if (r.status === 401 && source.getAttribute('data-login')) { location.assign(source.getAttribute('data-login')); return null; }
          if (!r.ok) return r.json().then(function (e) { throw new Error(e.error || ('HTTP ' + r.status)); }, function () { throw new Error('HTTP ' + r.status); });
          return r.text();
        })
        .then(function (text) {
          if (text === null) return;
          main.removeAttribute('aria-busy');
          source.textContent = text;
          report();
        })
        .catch(function (e) {
          main.removeAttribute('aria-busy');
          main.textContent = 'The findings could not be loaded: ' + e.message + '. Reload the page to try again.';
        });
    })(document.getElementById('lg-data'), document.getElementById('lg-main'));
    return;
  }

  var SVG = 'http://www.w3.org/2000/svg';
  var DOC = JSON.parse(document.getElementById('lg-data').textContent);
  var FNS = DOC.functions || [];
  var MAIN = document.getElementById('lg-main');

  // -- small DOM helpers ---------------------------------------------------------
  function add(el, kids) {
    for (var i = 0; i < kids.length; i++) {
      var k = kids[i];
      if (k === null || k === undefined || k === false) continue;
      if (Array.isArray(k)) { add(el, k); continue; }
      el.appendChild(typeof k === 'object' ? k : document.createTextNode(String(k)));
    }
    return el;
  }
  function h(tag, attrs) {
    var el = document.createElement(tag);
    setAttrs(el, attrs);
    return add(el, Array.prototype.slice.call(arguments, 2));
  }
  function s(tag, attrs) {
    var el = document.createElementNS(SVG, tag);
    setAttrs(el, attrs);
    return add(el, Array.prototype.slice.call(arguments, 2));
  }
  function setAttrs(el, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (key) {
      var v = attrs[key];
      if (v === null || v === undefined || v === false) return;
      if (key === 'class') el.setAttribute('class', v);
      else if (key === 'onclick') el.addEventListener('click', v);
      else if (key === 'oninput') el.addEventListener('input', v);
      else el.setAttribute(key, v === true ? '' : String(v));
    });
  }

  // -- formatting ------------------------------------------------------------------
  function n(v) { return v === null || v === undefined ? '–' : Number(v).toLocaleString('en-US'); }
  function day(iso) { return iso ? iso.slice(0, 10) : '–'; }
  function when(iso) { return iso ? iso.slice(0, 16).replace('T', ' ') + ' UTC' : '–'; }
  function plural(count, one, many) { return n(count) + ' ' + (count === 1 ? one : many); }
  function fnHref(fn) { return '#/fn/' + encodeURIComponent(fn.arn); }
  function verdictBadge(v) {
    var name = v || 'unjudged';
    return h('span', { class: 'badge v-' + name, 'data-verdict': name }, name);
  }

  // -- copy and download -----------------------------------------------------------
  function copyText(text, button) {
    function done(ok) {
      var label = button.textContent;
      button.textContent = ok ? 'Copied' : 'Copy failed: select the text instead';
      setTimeout(function () { button.textContent = label; }, 1600);
    }
    function fallback() {
      var area = h('textarea', { readonly: true, 'aria-hidden': 'true' });
      area.value = text;
      area.style.position = 'fixed';
      area.style.opacity = '0';
      document.body.appendChild(area);
      area.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      document.body.removeChild(area);
      done(ok);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
    } else {
      fallback();
    }
  }
  function download(filename, text, type) {
    var url = URL.createObjectURL(new Blob([text], { type: type || 'application/json' }));
    var a = h('a', { href: url, download: filename });
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
  }
  function copyButton(label, textFn) {
    var b = h('button', { type: 'button', 'data-action': 'copy' }, label);
    b.addEventListener('click', function () { copyText(textFn(), b); });
    return b;
  }
  function downloadButton(label, filename, textFn, type) {
    return h('button', { type: 'button', 'data-action': 'download', onclick: function () { download(filename, textFn(), type); } }, label);
  }
  function safeFile(name) { return String(name).replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80) || 'function'; }

  // -- charts (inline SVG, drawn here from the data) ---------------------------------
  var COLORS = {};
  (function () {
    var style = getComputedStyle(document.documentElement);
    ['ok', 'error', 'timeout', 'cold', 'active', 'idle-expected', 'idle', 'dead', 'unjudged', 'used', 'granted'].forEach(function (k) {
      COLORS[k] = style.getPropertyValue('--c-' + k).trim() || '#0072b2';
    });
  })();

  function legend(items) {
    return h('ul', { class: 'legend' }, items.map(function (it) {
      return h('li', null, h('span', { class: 'sw' + (it.line ? ' sw-line' : ''), style: null, 'data-color': it.color }), it.label);
    }));
  }
  function paintLegend(root) {
    // Colour swatches are painted through the CSSOM (allowed by the page's CSP).
    root.querySelectorAll('[data-color]').forEach(function (el) { el.style.background = el.getAttribute('data-color'); });
  }

  // Every day from the first to the last with data, gaps filled with zeros, so the
  // time axis is true; weeks instead of days past half a year.
  function series(days) {
    if (!days.length) return [];
    var byDay = {};
    days.forEach(function (d) { byDay[d.day] = d; });
    var out = [];
    var t = Date.parse(days[0].day + 'T00:00:00Z');
    var end = Date.parse(days[days.length - 1].day + 'T00:00:00Z');
    for (; t <= end; t += 86400000) {
      var key = new Date(t).toISOString().slice(0, 10);
      var d = byDay[key] || { day: key, invocations: 0, cold_starts: 0, errors: 0, timeouts: 0 };
      out.push({ label: key, invocations: d.invocations, cold_starts: d.cold_starts, errors: d.errors, timeouts: d.timeouts });
    }
    if (out.length <= 183) return out;
    var weeks = [];
    for (var i = 0; i < out.length; i += 7) {
      var w = { label: 'week of ' + out[i].label, invocations: 0, cold_starts: 0, errors: 0, timeouts: 0 };
      out.slice(i, i + 7).forEach(function (x) {
        w.invocations += x.invocations; w.cold_starts += x.cold_starts; w.errors += x.errors; w.timeouts += x.timeouts;
      });
      weeks.push(w);
    }
    return weeks;
  }

  function invocationsChart(fn) {
    var inv = fn.evidence.invocations;
    var pts = series(inv.days);
    var wrap = h('div', { class: 'chart-wrap' });
    if (!pts.length) return add(wrap, [h('p', { class: 'muted' }, 'No invocation recorded.')]);
    var W = 960, H = 220, L = 48, R = 12, T = 12, B = 34;
    var max = Math.max.apply(null, pts.map(function (p) { return Math.max(p.invocations, p.cold_starts); })) || 1;
    var step = (W - L - R) / pts.length;
    var bw = Math.max(1, Math.min(28, step * 0.8));
    function y(v) { return T + (H - T - B) * (1 - v / max); }
    var title = 'Invocations of ' + fn.name + ' per ' + (pts[0].label.indexOf('week') === 0 ? 'week' : 'day');
    var desc = plural(inv.total, 'invocation', 'invocations') + ' from ' + pts[0].label + ' to ' + pts[pts.length - 1].label +
      ': ' + n(inv.errors) + ' errors, ' + n(inv.timeouts) + ' timeouts, ' + n(inv.cold_starts) + ' cold starts.';
    var id = 'c' + Math.random().toString(36).slice(2);
    var svg = s('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-labelledby': id + 't ' + id + 'd' },
      s('title', { id: id + 't' }, title), s('desc', { id: id + 'd' }, desc));
    // axes and grid
    [0, 0.5, 1].forEach(function (f) {
      var v = Math.round(max * f);
      svg.appendChild(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: '#d0d7de', 'stroke-width': 1 }));
      svg.appendChild(s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, n(v)));
    });
    var coldPath = [];
    pts.forEach(function (p, i) {
      var x = L + i * step + (step - bw) / 2;
      var ok = p.invocations - p.errors - p.timeouts;
      var g = s('g', { 'data-day': p.label }, s('title', null,
        p.label + ': ' + plural(p.invocations, 'invocation', 'invocations') + ', ' + plural(p.cold_starts, 'cold start', 'cold starts') +
        ', ' + plural(p.errors, 'error', 'errors') + ', ' + plural(p.timeouts, 'timeout', 'timeouts')));
      var base = p.invocations;
      [['ok', Math.max(0, ok)], ['error', p.errors], ['timeout', p.timeouts]].forEach(function (part) {
        if (!part[1]) return;
        g.appendChild(s('rect', { x: x, width: bw, y: y(base), height: Math.max(0.5, y(base - part[1]) - y(base)), fill: COLORS[part[0]], 'data-series': part[0] }));
        base -= part[1];
      });
      // an invisible full-height target so the tooltip works on empty days too
      g.appendChild(s('rect', { x: L + i * step, width: step, y: T, height: H - T - B, fill: 'transparent' }));
      svg.appendChild(g);
      coldPath.push((i ? 'L' : 'M') + (L + i * step + step / 2).toFixed(1) + ' ' + y(p.cold_starts).toFixed(1));
    });
    svg.appendChild(s('path', { d: coldPath.join(' '), fill: 'none', stroke: COLORS.cold, 'stroke-width': 2, 'stroke-dasharray': '4 3', 'data-series': 'cold' }));
    pts.forEach(function (p, i) {
      if (!p.cold_starts) return;
      var cx = L + i * step + step / 2, cy = y(p.cold_starts);
      svg.appendChild(s('path', { d: 'M' + cx + ' ' + (cy - 7) + ' L' + (cx + 7) + ' ' + cy + ' L' + cx + ' ' + (cy + 7) + ' L' + (cx - 7) + ' ' + cy + ' Z',
        fill: COLORS.cold, stroke: '#ffffff', 'stroke-width': 1.5, 'data-series': 'cold-start' }));
    });
    var ticks = pts.length === 1 ? [0] : [0, Math.floor((pts.length - 1) / 2), pts.length - 1];
    ticks.forEach(function (i, k) {
      svg.appendChild(s('text', { x: L + i * step + step / 2, y: H - B + 16, 'text-anchor': k === 0 && ticks.length > 1 ? 'start' : (k === ticks.length - 1 && ticks.length > 1 ? 'end' : 'middle') }, pts[i].label.replace('week of ', '')));
    });
    add(wrap, [svg, legend([
      { label: 'succeeded', color: COLORS.ok }, { label: 'errors', color: COLORS.error },
      { label: 'timeouts', color: COLORS.timeout }, { label: 'cold starts (dashed line, diamonds)', color: COLORS.cold, line: true }
    ])]);
    var table = h('table', null,
      h('thead', null, h('tr', null, h('th', null, 'Day'), h('th', { class: 'num' }, 'Invocations'), h('th', { class: 'num' }, 'Cold starts'),
        h('th', { class: 'num' }, 'Errors'), h('th', { class: 'num' }, 'Timeouts'), h('th', { class: 'num' }, 'p50 ms'), h('th', { class: 'num' }, 'p95 ms'))),
      h('tbody', null, inv.days.map(function (d) {
        return h('tr', null, h('td', null, d.day), h('td', { class: 'num' }, n(d.invocations)), h('td', { class: 'num' }, n(d.cold_starts)),
          h('td', { class: 'num' }, n(d.errors)), h('td', { class: 'num' }, n(d.timeouts)), h('td', { class: 'num' }, n(d.p50_ms)), h('td', { class: 'num' }, n(d.p95_ms)));
      })));
    wrap.appendChild(h('details', null, h('summary', null, 'The same as a table'), table));
    paintLegend(wrap);
    return wrap;
  }

  // Horizontal bars: [{label, value, color, title}], one per row.
  function barChart(title, rows, unit) {
    var W = 720, row = 22, L = 180, R = 60;
    var H = rows.length * row + 8;
    var max = Math.max.apply(null, rows.map(function (r) { return r.value; }).concat([1]));
    var svg = s('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': title, style: null });
    rows.forEach(function (r, i) {
      var y0 = 4 + i * row;
      var w = Math.max(r.value ? 2 : 0, (W - L - R) * r.value / max);
      svg.appendChild(s('g', null, s('title', null, r.label + ': ' + n(r.value) + ' ' + unit),
        s('text', { x: L - 8, y: y0 + 14, 'text-anchor': 'end' }, r.label),
        s('rect', { x: L, y: y0 + 3, width: w, height: row - 8, fill: r.color, rx: 2 }),
        s('text', { x: L + w + 6, y: y0 + 14 }, n(r.value))));
    });
    return svg;
  }

  function verdictChart(byVerdict, total) {
    var order = ['active', 'idle-expected', 'idle', 'dead', 'unjudged'];
    var W = 720, H = 28, x = 0;
    var svg = s('svg', { class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'Functions by verdict' });
    var items = [];
    order.forEach(function (v) {
      var count = byVerdict[v] || 0;
      if (!count) return;
      var w = W * count / (total || 1);
      svg.appendChild(s('rect', { x: x, y: 0, width: w, height: H, fill: COLORS[v] }, s('title', null, v + ': ' + n(count))));
      x += w;
      items.push({ label: v + ' ' + n(count), color: COLORS[v] });
    });
    var box = h('div', null, svg, legend(items));
    paintLegend(box);
    return box;
  }

  // -- the overview ----------------------------------------------------------------------
  function card(key, label, value, extra) {
    return h('div', { class: 'card' }, h('dt', null, label), h('dd', { 'data-metric': key }, n(value), extra ? h('small', null, ' ' + extra) : null));
  }

  function overview() {
    var sm = DOC.summary;
    var out = [h('h1', null, 'Lambda functions: what they did, and what they need')];
    out.push(h('p', { class: 'sub' }, windowText()));
    if (DOC.partial) out.push(h('p', { class: 'note warn' }, 'Partial: some of the account could not be read; see the warnings at the end.'));
    out.push(h('dl', { class: 'cards' },
      card('functions', 'Functions', sm.functions),
      card('invocations', 'Invocations', sm.invocations),
      card('errors', 'Errors', sm.errors),
      card('timeouts', 'Timeouts', sm.timeouts),
      card('cold_starts', 'Cold starts', sm.cold_starts),
      card('calls', 'AWS API calls', sm.calls),
      card('actions_used', 'IAM actions used', sm.actions_used),
      card('third_party_hosts', 'Third-party hosts', sm.third_party_hosts, sm.plaintext_hosts ? n(sm.plaintext_hosts) + ' plaintext' : '')));

    out.push(h('h2', { id: 'verdicts' }, 'Functions by verdict'));
    out.push(verdictChart(sm.by_verdict, sm.functions));
    out.push(inventoryNote());
    if ((sm.by_verdict.unjudged || 0) === sm.functions && sm.functions) {
      out.push(h('p', { class: 'note' }, 'No function was judged: verdicts (active, idle, dead) come from the inventory of the account, ' +
        'and none is in the store. Run lambdaguard inventory --store … once, then build the report again.'));
    }

    out.push(h('h2', { id: 'granted-used' }, 'Granted versus used'));
    var services = Object.keys(sm.services_used || {});
    if (sm.granted_actions === null || sm.granted_actions === undefined) {
      out.push(h('p', { class: 'note' }, 'Granted permissions were not read for this report, so nothing here says what could be removed. ' +
        'Used: ' + plural(sm.actions_used, 'IAM action', 'IAM actions') + ' across ' + plural(services.length, 'service', 'services') + '.'));
    } else {
      out.push(h('p', null, n(sm.granted_actions) + ' actions granted, ' + n(sm.granted_actions - sm.unused_actions) + ' used, ' + n(sm.unused_actions) + ' never used.'));
    }
    var levels = accessLevels();
    if (levels.length) {
      out.push(h('h3', null, 'Granted versus used, by access level (every function\u2019s role)'));
      out.push(pairChart('Granted versus used actions by access level', levels));
    }
    if (services.length) {
      out.push(h('h3', null, 'IAM actions used, by service'));
      out.push(barChart('IAM actions used by service', services.map(function (k) { return { label: k, value: sm.services_used[k], color: COLORS.used }; }), 'actions'));
    }

    out.push(h('h2', { id: 'functions' }, 'Functions, riskiest first'));
    var filter = h('input', { type: 'search', placeholder: 'Filter by name or ARN', 'aria-label': 'Filter functions by name or ARN' });
    var rows = FNS.map(functionRow);
    var tbody = h('tbody', null, rows);
    filter.addEventListener('input', function () {
      var q = filter.value.toLowerCase();
      rows.forEach(function (tr, i) {
        var fn = FNS[i];
        tr.hidden = q && fn.name.toLowerCase().indexOf(q) < 0 && fn.arn.toLowerCase().indexOf(q) < 0;
      });
    });
    out.push(filter);
    out.push(h('table', { id: 'lg-functions' },
      h('thead', null, h('tr', null,
        h('th', null, 'Function'), h('th', null, 'Verdict'), h('th', null, 'Risk'), h('th', { class: 'num' }, 'Invocations'),
        h('th', { class: 'num' }, 'Errors'), h('th', { class: 'num' }, 'Cold starts'), h('th', null, 'Last seen'),
        h('th', { class: 'num' }, 'AWS calls'), h('th', { class: 'num' }, 'Third-party hosts'), h('th', null, 'Layer'))),
      tbody));
    if (!FNS.length) out.push(h('p', { class: 'note' }, 'The store holds no function yet: point a function\u2019s layer at the collector.'));
    out = out.concat(deadSection());
    if (DOC.warnings && DOC.warnings.length) {
      out.push(h('h2', { id: 'warnings' }, 'Warnings'));
      out.push(h('ul', null, DOC.warnings.map(function (w) { return h('li', null, w); })));
    }
    return out;
  }

  function functionRow(fn) {
    var hosts = fn.hosts === null ? '–' : n(fn.hosts) + (fn.plaintext_hosts ? ' (' + n(fn.plaintext_hosts) + ' plaintext)' : '');
    return h('tr', { 'data-arn': fn.arn },
      h('td', { class: 'name' }, h('a', { href: fnHref(fn), 'data-field': 'name' }, fn.name),
        FNS.length && (fn.region !== FNS[0].region || fn.account !== FNS[0].account) ? h('div', { class: 'muted' }, fn.account + ' ' + fn.region) : null),
      h('td', null, verdictBadge(fn.verdict)),
      h('td', null, h('span', { class: 'risk-score risk-' + (fn.risk.score ? 'n' : '0'), 'data-field': 'risk' }, n(fn.risk.score)),
        fn.risk.reasons.length ? h('div', { class: 'muted' }, fn.risk.reasons[0]) : null),
      h('td', { class: 'num', 'data-field': 'invocations' }, n(fn.invocations)),
      h('td', { class: 'num', 'data-field': 'errors' }, n(fn.errors)),
      h('td', { class: 'num', 'data-field': 'cold_starts' }, n(fn.cold_starts)),
      h('td', { class: 'date' }, day(fn.last_seen)),
      h('td', { class: 'num', 'data-field': 'calls' }, n(fn.calls)),
      h('td', { class: 'num', 'data-field': 'hosts' }, hosts),
      h('td', null, fn.layer_version || '–'));
  }

  function inventoryNote() {
    var inv = DOC.inventory;
    if (!inv || !inv.read_at) return null;
    var age = inv.age_days === null ? '' : ' (' + (inv.age_days < 1 ? 'less than a day' : plural(Math.floor(inv.age_days), 'day', 'days')) + ' before this report)';
    var text = 'Verdicts are as of the inventory read ' + when(inv.read_at) + age + ', ' + (inv.source || 'live') +
      (inv.window_days ? ', over the ' + inv.window_days + ' days before it' : '') + ': ' + plural(inv.functions, 'function', 'functions') + ' judged' +
      (inv.oldest_read_at && inv.oldest_read_at !== inv.read_at ? ' (the oldest verdict from ' + day(inv.oldest_read_at) + ')' : '') +
      '. Invocations lambdaguard recorded since count as use. lambdaguard inventory reads the account again.';
    return h('p', { class: 'note' + (inv.age_days !== null && inv.age_days > 7 ? ' warn' : ''), id: 'lg-inventory', 'data-read-at': inv.read_at }, text,
      inv.partial ? ' The inventory is partial: see the warnings.' : '',
      inv.listed_only ? ' ' + plural(inv.listed_only, 'function was', 'functions were') + ' listed by an older lambdaguard and are not judged.' : '');
  }

  // Granted and used actions by access level, summed over every function's proposal.
  function accessLevels() {
    var by = {};
    FNS.forEach(function (fn) {
      (fn.proposal ? fn.proposal.access : []).forEach(function (a) {
        var k = a.access_level || 'Unknown';
        by[k] = by[k] || { label: k, granted: 0, used: 0 };
        by[k].granted += a.granted;
        by[k].used += a.used;
      });
    });
    var order = ['List', 'Read', 'Write', 'Tagging', 'Permissions management', 'Unknown'];
    return Object.keys(by).sort(function (a, b) { return order.indexOf(a) - order.indexOf(b); }).map(function (k) { return by[k]; });
  }

  // Paired horizontal bars: granted (grey, hatched by position: upper) and used (blue, lower) per row.
  function pairChart(title, rows) {
    var W = 760, row = 34, L = 250, R = 90;
    var H = rows.length * row + 8;
    var max = Math.max.apply(null, rows.map(function (r) { return r.granted; }).concat([1]));
    var svg = s('svg', { class: 'chart pair', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': title });
    rows.forEach(function (r, i) {
      var y0 = 4 + i * row;
      var wg = Math.max(r.granted ? 2 : 0, (W - L - R) * r.granted / max);
      var wu = Math.max(r.used ? 2 : 0, (W - L - R) * r.used / max);
      svg.appendChild(s('g', { 'data-level': r.label }, s('title', null, r.label + ': ' + n(r.granted) + ' granted, ' + n(r.used) + ' used'),
        s('text', { x: L - 8, y: y0 + 18, 'text-anchor': 'end' }, r.label),
        s('rect', { x: L, y: y0 + 2, width: wg, height: 12, fill: COLORS.granted, rx: 2, 'data-series': 'granted' }),
        s('rect', { x: L, y: y0 + 16, width: wu, height: 12, fill: COLORS.used, rx: 2, 'data-series': 'used' }),
        s('text', { x: L + wg + 6, y: y0 + 12 }, n(r.granted) + ' granted'),
        s('text', { x: L + wu + 6, y: y0 + 26 }, n(r.used) + ' used')));
    });
    var box = h('div', null, svg, legend([{ label: 'granted (upper bar)', color: COLORS.granted }, { label: 'used (lower bar)', color: COLORS.used }]),
      h('details', null, h('summary', null, 'The same as a table'), h('table', null,
        h('thead', null, h('tr', null, h('th', null, 'Access level'), h('th', { class: 'num' }, 'Granted'), h('th', { class: 'num' }, 'Used'), h('th', { class: 'num' }, 'Never used'))),
        h('tbody', null, rows.map(function (r) {
          return h('tr', null, h('td', null, r.label), h('td', { class: 'num' }, n(r.granted)), h('td', { class: 'num' }, n(r.used)), h('td', { class: 'num' }, n(r.granted - r.used)));
        })))));
    paintLegend(box);
    return box;
  }

  function surfaceText(j, fn) {
    var a = j.attack_surface;
    if (!a) return 'not evaluated';
    var parts = [];
    var p = fn && fn.proposal;
    if (!a.access_levels && p && p.access.length) {
      // The inventory did not evaluate the role, but the proposal read its grants.
      var by = {};
      p.access.forEach(function (x) { by[x.access_level] = (by[x.access_level] || 0) + x.granted; });
      parts.push(Object.keys(by).map(function (k) { return k + ' ' + n(by[k]); }).join(', ') + ' (from the policy proposal' +
        (p.admin_equivalent ? '; admin-equivalent' : '') + '; ' + plural(p.escalation_paths_now, 'escalation path', 'escalation paths') + ')');
      if (a.public_entry_points.length) parts.push('public entry points: ' + a.public_entry_points.join(', '));
      return parts.join(' \u00b7 ');
    }
    if (a.access_levels) {
      var keys = Object.keys(a.access_levels);
      parts.push(keys.length ? keys.map(function (k) { return k + ' ' + n(a.access_levels[k]); }).join(', ') : 'no action allowed');
    }
    if (a.admin_equivalent) parts.push('admin-equivalent');
    if (a.privilege_escalation.length) parts.push('privilege escalation: ' + a.privilege_escalation.join('; '));
    if (a.public_entry_points.length) parts.push('public entry points: ' + a.public_entry_points.join(', '));
    if (!a.access_levels) parts.push(a.note || 'the role\u2019s grants were not evaluated');
    return parts.join(' \u00b7 ');
  }

  function planBlock(j) {
    var steps = j.plan && j.plan.length ? j.plan : (j.cleanup || []).map(function (c) { return { step: '', command: c }; });
    if (!steps.length) return null;
    var text = steps.map(function (p) { return (p.step ? '# ' + p.step + '\n' : '') + p.command; }).join('\n');
    return [h('div', { class: 'toolbar' }, copyButton('Copy the commands', function () { return text; })),
      h('ol', { class: 'plan' }, steps.map(function (p) {
        return h('li', null, p.step ? h('span', null, p.step) : null, h('pre', { class: 'cmd' }, p.command));
      }))];
  }

  function configuredTriggers(j) {
    if (!j.triggers.length) return h('p', { class: 'muted' }, 'No trigger configured: no event source mapping, permission, URL, rule, schedule or notification.');
    return h('table', { class: 'triggers' }, h('thead', null, h('tr', null, h('th', null, 'Kind'), h('th', null, 'Source'), h('th', null, 'Enabled'), h('th', null, 'Source exists'), h('th', null, 'Detail'))),
      h('tbody', null, j.triggers.map(function (t) {
        return h('tr', null, h('td', null, t.kind), h('td', { class: 'wrap mono' }, t.source), h('td', null, yesNo(t.enabled)),
          h('td', null, t.source_exists === false ? h('strong', { class: 'bad' }, 'no (gone)') : yesNo(t.source_exists)), h('td', { class: 'wrap' }, t.detail || ''));
      })));
  }

  // Dead functions: why, when last invoked, what can still reach them, what their role could
  // still do, and the plan a person would run (nothing is ever run by lambdaguard).
  function deadSection() {
    var dead = FNS.filter(function (fn) { return fn.judgement && fn.judgement.verdict === 'dead'; });
    var out = [h('h2', { id: 'dead' }, 'Dead functions (' + n(dead.length) + ')')];
    if (!DOC.inventory) {
      out.push(h('p', { class: 'note' }, 'Not judged: no inventory of the account is in the store.'));
      return out;
    }
    if (!dead.length) {
      out.push(h('p', { class: 'muted' }, 'No function is dead: every one was invoked in the window, or can still be triggered.'));
      return out;
    }
    out.push(h('p', null, 'Nothing invoked these in the window, and nothing left can fire them. Their roles keep their permissions. ' +
      'The plans below are for a person to review and run; lambdaguard changes nothing.'));
    dead.forEach(function (fn) {
      var j = fn.judgement;
      out.push(h('article', { class: 'dead', 'data-arn': fn.arn },
        h('h3', null, h('a', { href: fnHref(fn) }, fn.name), ' ', h('span', { class: 'muted' }, fn.region + ' \u00b7 ' + j.confidence.level + ' confidence')),
        h('dl', { class: 'facts' },
          h('dt', null, 'Last invoked'), h('dd', { 'data-field': 'last_invoked' }, j.last_invoked ? when(j.last_invoked) : 'never, as far as CloudWatch and lambdaguard know'),
          h('dt', null, 'Attack surface'), h('dd', { 'data-field': 'surface' }, surfaceText(j, fn)),
          j.flags.length ? [h('dt', null, 'Flags'), h('dd', null, j.flags.map(function (f) { return f.name; }).join(', '))] : null),
        h('ul', { class: 'reasons' }, j.reasons.map(function (r) { return h('li', null, r); })),
        configuredTriggers(j),
        h('details', { class: 'plan-box' }, h('summary', null, 'Clean-up plan (' + plural((j.plan || j.cleanup).length, 'command', 'commands') + ')'), planBlock(j))));
    });
    return out;
  }

  function windowText() {
    var w = DOC.window;
    var span = w.start ? 'evidence from ' + when(w.start) + ' to ' + when(w.end) : 'all the evidence the store holds, up to ' + when(w.end);
    return 'Generated ' + when(DOC.generated_at) + ' from ' + DOC.source + '; ' + span + '.';
  }

  // -- one function ---------------------------------------------------------------------
  // Each section is a function (fn) -> nodes. The policy and verdict sections are the
  // extension points the policy and inventory analyses fill; they say plainly when
  // their part was not analysed.
  var SECTIONS = [
    ['risk', 'Why look at it', riskSection],
    ['verdict', 'Verdict and clean-up', verdictSection],
    ['invocations', 'Invocations over time', invocationsSection],
    ['triggers', 'Triggers', triggersSection],
    ['calls', 'AWS calls and the IAM requests they need', callsSection],
    ['hosts', 'Outbound hosts', hostsSection],
    ['policy', 'Policy proposal', policySection]
  ];

  function functionPage(fn) {
    var e = fn.evidence;
    var section = h('section', { class: 'fn-section', 'data-arn': fn.arn },
      h('p', { class: 'crumb' }, h('a', { href: '#/' }, '\u2190 All functions')),
      h('h1', null, fn.name),
      h('p', { class: 'sub mono' }, fn.arn));
    var facts = [['Account', fn.account], ['Region', fn.region], ['Verdict', verdictBadge(fn.verdict)]];
    if (fn.runtime) facts.push(['Runtime', fn.runtime]);
    var lastInvoked = (e && e.last_invoked) || (fn.judgement && fn.judgement.last_invoked);
    if (lastInvoked) facts.push(['Last invoked', when(lastInvoked)]);
    if (fn.judgement) facts.push(['Confidence', fn.judgement.confidence.level]);
    if (fn.role_arn) facts.push(['Role', fn.role_arn]);
    if (e) {
      facts.push(['Layer version', e.layer_version || '–']);
      facts.push(['First seen', when(e.first_seen)]);
      facts.push(['Last seen', when(e.last_seen)]);
    }
    Object.keys(fn.tags || {}).forEach(function (k) { facts.push(['Tag ' + k, fn.tags[k]]); });
    section.appendChild(h('dl', { class: 'facts' }, facts.map(function (f) { return [h('dt', null, f[0]), h('dd', null, f[1])]; })));
    section.appendChild(h('div', { class: 'toolbar' },
      downloadButton('Download this function as JSON', safeFile(fn.name) + '.json', function () { return JSON.stringify(fn, null, 2); }),
      e ? copyButton('Copy its IAM requests (JSON)', function () { return JSON.stringify(iamRequests(fn), null, 2); }) : null));
    if (e) {
      section.appendChild(h('dl', { class: 'cards' },
        card('invocations', 'Invocations', e.invocations.total),
        card('errors', 'Errors', e.invocations.errors),
        card('timeouts', 'Timeouts', e.invocations.timeouts),
        card('cold_starts', 'Cold starts', e.invocations.cold_starts),
        card('calls', 'AWS API calls', fn.calls),
        card('actions_used', 'IAM actions used', e.actions_used.length)));
    } else {
      section.appendChild(h('p', { class: 'note' }, 'lambdaguard has recorded nothing for this function: it does not carry the layer, or it was not invoked since.'));
    }
    SECTIONS.forEach(function (sec) {
      var body = sec[2](fn);
      if (!body) return;
      section.appendChild(h('h2', { id: sec[0] + '-' + FNS.indexOf(fn) }, sec[1]));
      add(section, [body]);
    });
    return section;
  }

  function iamRequests(fn) {
    var seen = {};
    (fn.evidence ? fn.evidence.calls : []).forEach(function (g) {
      g.requests.forEach(function (r) { seen[r.action + ' ' + r.resource] = { action: r.action, resource: r.resource }; });
    });
    return Object.keys(seen).sort().map(function (k) { return seen[k]; });
  }

  function riskSection(fn) {
    if (!fn.risk.reasons.length) return null;
    return [h('p', null, 'Risk score ', h('strong', null, n(fn.risk.score)), ' (it orders the functions; it is not a probability):'),
      h('ul', null, fn.risk.reasons.map(function (r) { return h('li', null, r); }))];
  }

  function invocationsSection(fn) {
    if (!fn.evidence) return null;
    var inv = fn.evidence.invocations;
    var parts = [invocationsChart(fn)];
    if (inv.error_types.length) {
      parts.push(h('p', null, 'Error types: ', inv.error_types.map(function (t, i) {
        return [i ? ', ' : '', h('code', null, t.error_type), ' \u00d7' + n(t.count) + (t.phase === 'init' ? ' (INIT)' : '') + ', last ' + day(t.last_seen)];
      })));
    }
    var versions = fn.evidence.versions;
    if (versions.length) {
      parts.push(h('p', null, 'Versions that ran: ', versions.map(function (v, i) {
        return [i ? ', ' : '', h('code', null, v.version), (v.alias ? ' (alias ' + v.alias + ')' : '') + ' \u00d7' + n(v.count)];
      })));
    }
    return parts;
  }

  function triggersSection(fn) {
    var parts = [];
    var seen = fn.evidence ? fn.evidence.triggers : [];
    if (seen.length) {
      parts.push(h('table', null, h('thead', null, h('tr', null, h('th', null, 'Kind'), h('th', null, 'Source'), h('th', { class: 'num' }, 'Invocations'), h('th', null, 'First seen'), h('th', null, 'Last seen'))),
        h('tbody', null, seen.map(function (t) {
          return h('tr', null, h('td', null, t.kind), h('td', { class: 'wrap mono' }, t.source || '–'), h('td', { class: 'num' }, n(t.count)), h('td', { class: 'date' }, day(t.first_seen)), h('td', { class: 'date' }, day(t.last_seen)));
        }))));
    } else if (fn.evidence) {
      parts.push(h('p', { class: 'muted' }, 'No trigger recorded in the invocations.'));
    }
    if (fn.judgement) {
      parts.push(h('h3', null, 'Configured in AWS (inventory)'));
      parts.push(configuredTriggers(fn.judgement));
    }
    return parts.length ? parts : null;
  }
  function yesNo(v) { return v === null || v === undefined ? 'unknown' : (v ? 'yes' : 'no'); }

  function callsSection(fn) {
    if (!fn.evidence) return null;
    var calls = fn.evidence.calls;
    if (!calls.length) return h('p', { class: 'muted' }, 'No AWS API call recorded.');
    return h('table', { class: 'calls' },
      h('thead', null, h('tr', null, h('th', null, 'Call'), h('th', { class: 'num' }, 'Count'), h('th', { class: 'num' }, 'Failed'),
        h('th', null, 'First seen'), h('th', null, 'Last seen'), h('th', null, 'IAM requests (action, resource)'))),
      h('tbody', null, calls.map(function (g) {
        var notes = g.calls.filter(function (c) { return c.note; }).map(function (c) { return c.note; });
        return h('tr', { 'data-call': g.service + ':' + g.operation },
          h('td', { class: 'call' }, h('code', null, g.service + ':' + g.operation),
            h('details', null, h('summary', null, plural(g.calls.length, 'distinct call', 'distinct calls')),
              h('ul', null, g.calls.map(function (c) {
                var tags = [c.phase === 'init' ? 'during INIT' : null, c.error_code ? 'failed: ' + c.error_code : null,
                  c.presign ? 'presigned URL, not sent' : null, c.params_complete ? null : 'parameters cut: resource widened',
                  c.role_arn ? 'signed as ' + c.role_arn : (c.credentials && c.credentials !== 'execution-role' && c.credentials !== 'unknown' ? 'signed with ' + c.credentials + ' credentials' : null),
                  c.trace_id ? 'trace ' + c.trace_id + (c.span_id ? ' span ' + c.span_id : '') : null].filter(Boolean);
                return h('li', null, h('code', null, JSON.stringify(c.params)), ' \u00d7' + n(c.count) + (tags.length ? ' (' + tags.join('; ') + ')' : ''));
              })))),
          h('td', { class: 'num' }, n(g.count)),
          h('td', { class: 'num' }, n(g.failed)),
          h('td', { class: 'date' }, day(g.first_seen)),
          h('td', { class: 'date' }, day(g.last_seen)),
          h('td', { class: 'wrap' }, g.requests.length ? g.requests.map(function (r) {
            return h('span', { class: 'req', title: r.explanation }, h('span', { class: 'badge b-' + r.confidence }, r.confidence), ' ',
              h('code', null, r.action), ' ', h('span', { class: 'mono' }, r.resource));
          }) : h('span', { class: 'muted' }, notes.length ? '' : 'no permission needed'),
          notes.map(function (t) { return h('div', { class: 'note warn' }, t); })));
      })));
  }

  function hostsSection(fn) {
    if (!fn.evidence) return null;
    var hosts = fn.evidence.hosts;
    if (!hosts.length) return h('p', { class: 'muted' }, 'No outbound connection recorded.');
    return h('table', { class: 'hosts' },
      h('thead', null, h('tr', null, h('th', null, 'Host'), h('th', { class: 'num' }, 'Port'), h('th', null, 'TLS'), h('th', null, 'Kind'),
        h('th', { class: 'num' }, 'Connections'), h('th', { class: 'num' }, 'Failed'), h('th', null, 'First seen'), h('th', null, 'Last seen'))),
      h('tbody', null, hosts.map(function (x) {
        return h('tr', { 'data-host': x.host },
          h('td', { class: 'wrap mono' }, x.host, x.proxy ? h('div', { class: 'muted' }, 'through proxy ' + x.proxy) : null),
          h('td', { class: 'num' }, String(x.port)),
          h('td', null, x.tls ? h('span', { class: 'badge b-tls' }, 'TLS') : h('span', { class: 'badge b-plain' }, 'PLAINTEXT')),
          h('td', null, x.aws ? 'AWS endpoint' : 'third party'),
          h('td', { class: 'num' }, n(x.count)),
          h('td', { class: 'num' }, n(x.failures)),
          h('td', { class: 'date' }, day(x.first_seen)),
          h('td', { class: 'date' }, day(x.last_seen)));
      })));
  }

  function policySection(fn) {
    var p = fn.proposal;
    if (!p) {
      return h('p', { class: 'note' }, 'Not analysed: the grants of this function\u2019s role were not read for this report, ' +
        'so there is no proposal or diff yet.' + (fn.evidence ? ' The IAM requests above are what the recorded calls needed.' :
        ' lambdaguard recorded no call of it either: without evidence nothing can be proposed.'));
    }
    var parts = [h('p', null, 'Role ', h('code', null, p.role_arn), ' \u2014 ' + p.confidence.level + ' confidence' +
      (p.proved === null ? '' : (p.proved ? ', proved' : ', the proof FAILED: do not apply')))];
    if (p.confidence.reasons.length) parts.push(h('ul', null, p.confidence.reasons.map(function (r) { return h('li', null, r); })));
    if (p.proof && p.proof.length) {
      parts.push(h('ul', { class: 'proof' }, p.proof.map(function (c) {
        return h('li', null, (c.passed ? 'ok ' : 'FAILED ') + c.check + ': ' + c.detail);
      })));
    }
    parts.push(h('p', null, 'Privilege-escalation and exfiltration paths: ' + p.escalation_paths_now + ' today, ' +
      p.escalation_paths_after + ' under the proposal' + (p.admin_equivalent ? ' (today\u2019s grant is admin-equivalent)' : '')));
    if (p.trial) {
      parts.push(h('p', { class: 'trial' }, 'Trial: ' + p.trial.status));
      if (p.trial.would_be_denials.length) {
        parts.push(h('ul', null, p.trial.would_be_denials.map(function (d) {
          return h('li', null, 'would deny ' + d.action + ' on ' + d.resource + ' (' + d.call.service + ':' + d.call.operation + ')');
        })));
      }
    }
    var base = safeFile(fn.name) + '-policy';
    p.documents.forEach(function (doc, i) {
      parts.push(h('div', { class: 'toolbar' },
        copyButton('Copy JSON', function () { return doc; }),
        downloadButton('Download JSON', base + (i ? '-' + (i + 1) : '') + '.json', function () { return doc; }),
        p.terraform && !i ? copyButton('Copy Terraform', function () { return p.terraform; }) : null,
        p.terraform && !i ? downloadButton('Download Terraform', base + '.tf', function () { return p.terraform; }, 'text/plain') : null,
        p.cloudformation && !i ? copyButton('Copy CloudFormation', function () { return p.cloudformation; }) : null,
        p.cloudformation && !i ? downloadButton('Download CloudFormation', base + '.yaml', function () { return p.cloudformation; }, 'text/yaml') : null));
      parts.push(h('pre', { class: 'policy' }, doc));
    });
    if (p.diff.length) {
      parts.push(h('h3', null, 'Against today\u2019s policy'));
      parts.push(h('pre', { class: 'diff' }, p.diff.map(function (d) {
        var sign = d.change === 'removed' ? '- ' : (d.change === 'added' ? '+ ' : '  ');
        return h('span', { class: 'diff-' + d.change }, sign + d.text + '\n');
      })));
    }
    if (p.access.length) {
      parts.push(h('h3', null, 'Granted versus used, by service and access level'));
      parts.push(pairChart('Granted versus used actions of ' + fn.name + ' by service and access level', p.access.map(function (a) {
        return { label: a.service + ' ' + a.access_level, granted: a.granted, used: a.used };
      })));
    }
    if (p.unused.length) {
      parts.push(h('details', null, h('summary', null, 'Granted, never used (' + n(p.unused_total) + ')'),
        h('table', { class: 'unused' }, h('thead', null, h('tr', null, h('th', null, 'Action'), h('th', null, 'Access level'), h('th', null, 'Since'), h('th', null, 'Risks'))),
          h('tbody', null, p.unused.map(function (u) {
            return h('tr', null, h('td', null, h('code', null, u.action)), h('td', null, u.access_level || '–'), h('td', null, u.since), h('td', null, u.risks.join(', ')));
          })))));
    }
    return parts;
  }

  function verdictSection(fn) {
    var j = fn.judgement;
    if (!j) {
      return h('p', { class: 'note' }, 'Not judged: the verdict (active, idle, dead) and the clean-up plan come from the inventory of the account; ' +
        (DOC.inventory ? 'the stored inventory does not list this function.' : 'none is in the store (lambdaguard inventory --store \u2026 records one).'));
    }
    var parts = [h('p', { class: 'verdict-line' }, verdictBadge(j.verdict), ' ' + j.confidence.level + ' confidence' + (j.last_invoked ? '; last invoked ' + when(j.last_invoked) : '; no invocation known') +
      (j.as_of ? '. Judged as of the inventory read ' + when(j.as_of) + (j.window_days ? ', over the ' + j.window_days + ' days before it' : '') + '.' : ''))];
    parts.push(h('h3', null, 'Reasons'));
    parts.push(h('ul', { class: 'reasons' }, j.reasons.map(function (r) { return h('li', null, r); })));
    if (j.flags.length) {
      parts.push(h('h3', null, 'Flags'));
      parts.push(h('ul', { class: 'flags' }, j.flags.map(function (f) { return h('li', { 'data-flag': f.name }, h('strong', null, f.name), f.subject ? ' (' + f.subject + ')' : '', ': ' + f.reason); })));
    }
    parts.push(h('h3', null, 'Attack surface: what its role could still do'));
    parts.push(h('p', { class: 'surface' }, surfaceText(j, fn)));
    (j.schedules || []).forEach(function (sc) {
      parts.push(h('p', { class: 'schedule' }, 'Schedule ', h('code', null, sc.expression || ''), ' (' + (sc.source || '') + ')' +
        (sc.error ? ': cannot be evaluated: ' + sc.error : ': last due ' + when(sc.last_due) + ', next due ' + when(sc.next_due))));
    });
    var plan = planBlock(j);
    if (plan) {
      parts.push(h('h3', null, 'Clean-up plan (for a person to review and run; lambdaguard changes nothing)'));
      parts.push(plan);
    }
    return parts;
  }

  // -- routing ----------------------------------------------------------------------------
  function render() {
    var hash = location.hash || '#/';
    MAIN.textContent = '';
    var view;
    if (hash.indexOf('#/fn/') === 0) {
      var arn = decodeURIComponent(hash.slice(5));
      var fn = FNS.filter(function (f) { return f.arn === arn; })[0];
      view = fn ? functionPage(fn) : [h('h1', null, 'No such function in this report'), h('p', null, h('a', { href: '#/' }, 'Back to the overview'))];
      document.title = (fn ? fn.name + ' \u2014 ' : '') + 'lambdaguard report';
    } else if (hash === '#/dead') {
      view = deadSection();
      document.title = 'lambdaguard report \u2014 dead functions';
    } else if (hash === '#/all') {
      view = [h('h1', null, 'All functions')].concat(overview().slice(1), FNS.map(functionPage));
      document.title = 'lambdaguard report \u2014 all functions';
    } else {
      view = overview();
      document.title = 'lambdaguard report';
    }
    add(MAIN, [view]);
    MAIN.focus({ preventScroll: true });
    window.scrollTo(0, 0);
    document.documentElement.setAttribute('data-view', hash.indexOf('#/fn/') === 0 ? 'function' : (hash === '#/all' ? 'all' : (hash === '#/dead' ? 'dead' : 'overview')));
  }

  document.getElementById('lg-meta').textContent = 'generated ' + when(DOC.generated_at) + ' \u00b7 ' + plural(FNS.length, 'function', 'functions') +
    (DOC.inventory && DOC.inventory.read_at ? ' \u00b7 inventory read ' + when(DOC.inventory.read_at) : ' \u00b7 no inventory');
  window.addEventListener('hashchange', render);
  window.addEventListener('beforeprint', function () {
    document.querySelectorAll('details').forEach(function (d) { d.open = true; });
  });
  render();
})();
