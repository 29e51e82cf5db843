// The analytics page (`analytics`): the pipeline's telemetry, as counts per group
// (`GET /telemetry/stats`) and the anomalies of a recent window (`GET /telemetry/anomalies`).
// The form's fields are the page's query parameters, so a view can be linked.
'use strict';

(() => {
  const { el, show } = M;
  const params = new URLSearchParams(location.search);
  const app = document.getElementById('app');
  const GROUP_FIELDS = ['runtime', 'lab', 'device_type', 'device_id', 'job_name', 'tree', 'branch', 'arch', 'kind', 'error_type'];
  const FILTERS = ['kind', 'runtime', 'device_type', 'device_id', 'job_name', 'tree', 'branch', 'arch'];
  const KINDS = ['', 'runtime_error', 'job_submission', 'job_skip', 'job_result', 'test_result'];
  const WINDOWS = ['1h', '3h', '6h', '12h', '24h', '48h'];
  const COUNTS = ['total', 'pass', 'fail', 'incomplete', 'skip', 'infra_error'];

  const groupBy = (params.get('group_by') || 'runtime,device_type').split(',').map((s) => s.trim()).filter(Boolean);

  function input(name, attrs = {}) {
    return el('input', { ...attrs, name, id: `f-${name}`, value: params.get(name) || attrs.value || '', size: attrs.size || 14 });
  }

  function form() {
    const groups = el('fieldset', { class: 'toolbar' }, el('legend', { text: 'Group by' }),
      GROUP_FIELDS.map((f) => el('label', { class: 'check' },
        el('input', { type: 'checkbox', name: 'group_by', value: f, id: `g-${f}`, checked: groupBy.includes(f) }), f)));
    const kind = el('select', { name: 'kind', id: 'f-kind' },
      KINDS.map((k) => el('option', { value: k, text: k || 'any kind', selected: (params.get('kind') || '') === k })));
    const windowSel = el('select', { name: 'window', id: 'f-window' },
      WINDOWS.map((w) => el('option', { value: w, text: w, selected: (params.get('window') || '6h') === w })));
    const scope = el('select', { name: 'scope', id: 'f-scope' },
      ['device_type', 'device'].map((s) => el('option', { value: s, text: s, selected: (params.get('scope') || 'device_type') === s })));
    const f = el('form', { id: 'analytics-form' },
      groups,
      el('div', { class: 'toolbar' },
        el('label', {}, 'kind', kind),
        FILTERS.filter((x) => x !== 'kind').map((x) => el('label', {}, x, input(x))),
        el('label', {}, 'since', input('since', { placeholder: '2024-01-01T00:00', size: 18 })),
        el('label', {}, 'until', input('until', { placeholder: '2024-01-02T00:00', size: 18 }))),
      el('div', { class: 'toolbar' },
        el('label', {}, 'anomaly window', windowSel),
        el('label', {}, 'threshold', input('threshold', { type: 'number', step: '0.05', min: 0, max: 1, value: '0.5', size: 5 })),
        el('label', {}, 'min. events', input('min_total', { type: 'number', min: 1, value: '3', size: 5 })),
        el('label', {}, 'scope', scope),
        el('button', { class: 'primary', type: 'submit' }, 'Show')));
    f.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const out = new URLSearchParams();
      const chosen = [...f.querySelectorAll('input[name=group_by]:checked')].map((c) => c.value);
      out.set('group_by', chosen.join(','));
      for (const e of f.querySelectorAll('input:not([type=checkbox]), select')) {
        if (e.value !== '') out.set(e.name, e.value);
      }
      location.assign(M.url('analytics', out).href);
    });
    return f;
  }

  const fmtRate = (r) => (typeof r === 'number' ? `${(r * 100).toFixed(1)} %` : '–');
  const cell = (v) => (v === null || v === undefined ? '–' : String(v));

  function statsTable(rows) {
    if (rows.length === 0) return el('p', { class: 'muted', id: 'stats-empty', text: 'No telemetry matches.' });
    const fields = groupBy.map((g) => (g === 'lab' ? 'lab' : g));
    return M.table([...fields, ...COUNTS.map((c) => [c, 'num'])], rows.map((r) => M.row([
      ...fields.map((f) => cell(r[f] ?? (f === 'lab' ? r.runtime : undefined))),
      ...COUNTS.map((c) => ({ value: cell(r[c]), class: `num ${r[c] && c !== 'total' ? `n-${c}` : ''}` })),
    ])), { id: 'stats-table' });
  }

  function anomalyTables(a) {
    const device = a.scope === 'device';
    const results = a.result_anomalies || [];
    const errors = a.error_anomalies || [];
    return [
      el('p', { class: 'muted', id: 'anomaly-summary' },
        `Window ${a.window} since ${M.fmtTime(a.since)} UTC, rate threshold ${a.threshold}, at least ${a.min_total} events.`),
      el('h3', { text: 'Results' }),
      results.length ? M.table(['runtime', 'device type', ...(device ? ['device'] : []),
        ['total', 'num'], ['fail', 'num'], ['incomplete', 'num'], ['infra', 'num'], ['fail rate', 'num'], ['infra rate', 'num'],
        'last seen', 'latest error'], results.map((r) => M.row([
        cell(r.runtime), cell(r.device_type), ...(device ? [cell(r.device_id)] : []),
        { value: cell(r.total), class: 'num' }, { value: cell(r.fail), class: 'num' },
        { value: cell(r.incomplete), class: 'num' }, { value: cell(r.infra_error), class: 'num' },
        { value: fmtRate(r.fail_rate), class: `num ${r.constant_failure ? 'n-fail' : ''}` },
        { value: fmtRate(r.infra_rate), class: `num ${r.constant_infra_failure ? 'n-fail' : ''}` },
        M.fmtTime(r.last_seen),
        [r.latest_error_type ? el('code', { text: r.latest_error_type }) : '', r.latest_error_msg ? ` ${r.latest_error_msg}` : ''],
      ])), { id: 'result-anomalies' }) : el('p', { class: 'muted', text: 'No result anomalies.' }),
      el('h3', { text: 'Errors' }),
      errors.length ? M.table(['runtime', 'error type', ['events', 'num']], errors.map((r) => M.row([
        cell(r.runtime), el('code', { text: cell(r.error_type) }), { value: cell(r.count), class: 'num' },
      ])), { id: 'error-anomalies' }) : el('p', { class: 'muted', text: 'No error anomalies.' }),
    ];
  }

  async function load() {
    const stats = el('div', { id: 'stats' }, el('p', { class: 'muted', text: 'Loading…' }));
    const anomalies = el('div', { id: 'anomalies' }, el('p', { class: 'muted', text: 'Loading…' }));
    show(app, form(), el('h2', { text: 'Counts' }), stats, el('h2', { text: 'Anomalies' }), anomalies);
    const q = { group_by: groupBy.join(',') };
    for (const f of [...FILTERS, 'since', 'until']) q[f] = params.get(f);
    const aq = {};
    for (const f of ['window', 'threshold', 'min_total', 'scope']) aq[f] = params.get(f);
    await Promise.all([
      (async () => {
        if (groupBy.length === 0) {
          show(stats, el('p', { class: 'muted', text: 'Choose at least one field to group by.' }));
          return;
        }
        try {
          show(stats, statsTable(await M.get('telemetry/stats', q)));
        } catch (e) {
          show(stats, M.errorBox(e));
        }
      })(),
      (async () => {
        try {
          show(anomalies, anomalyTables(await M.get('telemetry/anomalies', aq)));
        } catch (e) {
          show(anomalies, M.errorBox(e));
        }
      })(),
    ]);
    app.dataset.ready = 'true';
  }

  M.showWho();
  load();
})();
