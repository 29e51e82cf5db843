// The dashboard (`dashboard?tree=&branch=&days=&per_tree=`): for each tree and branch, its
// latest checkouts with their builds' and tests' pass / fail / incomplete counts (`/count`),
// refreshed as node events arrive.
'use strict';

(() => {
  const { el, show, badge, pageLink } = M;
  const params = new URLSearchParams(location.search);
  const app = document.getElementById('app');
  const days = clampInt(params.get('days'), 7, 1, 90);
  const perTree = clampInt(params.get('per_tree'), 5, 1, 50);
  const tree = params.get('tree') || '';
  const branch = params.get('branch') || '';
  const MAX_CHECKOUTS = 2000;
  // At most one refresh of the counts per this many ms, however many events arrive.
  const REFRESH_MS = 5000;
  const KINDS = [['kbuild', 'builds'], ['test', 'tests']];
  const RESULTS = ['pass', 'fail', 'incomplete'];

  function clampInt(v, dflt, min, max) {
    const n = Number.parseInt(v || '', 10);
    return Number.isNaN(n) ? dflt : Math.min(max, Math.max(min, n));
  }

  /** What ties a node to a checkout: its tree id, else (older data) the commit. */
  function scope(checkout) {
    if (checkout.treeid) return { treeid: checkout.treeid };
    const commit = checkout.data && checkout.data.kernel_revision && checkout.data.kernel_revision.commit;
    return commit ? { 'data.kernel_revision.commit': commit } : { parent: checkout.id };
  }

  /** `{kbuild: {total, pass, fail, incomplete}, test: {...}}` for one checkout. */
  async function counts(checkout) {
    const base = scope(checkout);
    const jobs = [];
    for (const [kind] of KINDS) {
      jobs.push(M.get('count', { ...base, kind }).then((n) => [kind, 'total', n]));
      for (const r of RESULTS) {
        jobs.push(M.get('count', { ...base, kind, result: r }).then((n) => [kind, r, n]));
      }
    }
    const out = {};
    for (const [kind, what, n] of await Promise.all(jobs)) {
      (out[kind] = out[kind] || {})[what] = n;
    }
    return out;
  }

  function countCells(c) {
    if (!c) return KINDS.flatMap(() => [{ value: '…', class: 'num' }, '', '', '']);
    return KINDS.flatMap(([kind]) => {
      const k = c[kind] || {};
      return [{ value: String(k.total ?? 0), class: 'num c-total' },
        ...RESULTS.map((r) => ({ value: String(k[r] ?? 0), class: `num c-${r} ${k[r] ? `n-${r}` : 'muted'}` }))];
    });
  }

  function filters(pairs) {
    const select = el('select', { id: 'dash-tree', name: 'pair' },
      el('option', { value: '', text: 'All trees and branches' }),
      pairs.map(([t, b]) => el('option', { value: JSON.stringify([t, b]), text: `${t} / ${b}`, selected: t === tree && b === branch })));
    const daysInput = el('input', { id: 'dash-days', type: 'number', min: 1, max: 90, value: days, size: 4 });
    const perInput = el('input', { id: 'dash-per-tree', type: 'number', min: 1, max: 50, value: perTree, size: 4 });
    const form = el('form', { class: 'inline', id: 'dash-form' },
      el('label', {}, 'Tree and branch', select),
      el('label', {}, 'Days', daysInput),
      el('label', {}, 'Checkouts per branch', perInput),
      el('button', { class: 'primary', type: 'submit' }, 'Show'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const [t, b] = select.value ? JSON.parse(select.value) : ['', ''];
      location.assign(M.url('dashboard', { tree: t, branch: b, days: daysInput.value, per_tree: perInput.value }).href);
    });
    return form;
  }

  async function load() {
    const since = M.hoursAgo(24 * days);
    const status = el('span', { class: 'live-status', id: 'live' });
    const out = el('div', { id: 'dashboard' }, el('p', { class: 'muted', text: 'Loading checkouts…' }));
    const form = el('div');
    show(app, form, el('p', { class: 'muted' }, `Checkouts of the last ${days} days. `, status), out);
    let all;
    try {
      all = await M.getAll('nodes', { kind: 'checkout', created__gte: since }, {}, MAX_CHECKOUTS);
    } catch (e) {
      show(out, M.errorBox(e));
      return;
    }
    const groups = new Map();
    for (const n of all.items) {
      const kr = (n.data && n.data.kernel_revision) || {};
      const key = JSON.stringify([kr.tree || '(no tree)', kr.branch || '(no branch)']);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(n);
    }
    const pairs = [...groups.keys()].map((k) => JSON.parse(k)).sort((a, b) => `${a[0]}/${a[1]}`.localeCompare(`${b[0]}/${b[1]}`));
    show(form, filters(pairs));
    const shown = pairs.filter(([t, b]) => (!tree || t === tree) && (!branch || b === branch));
    if (shown.length === 0) {
      show(out, el('p', { class: 'muted', id: 'dash-empty', text: all.items.length ? 'No checkouts of this tree and branch in that time.' : 'No checkouts in that time.' }));
      return;
    }
    const rows = [];
    const sections = shown.map(([t, b]) => {
      const list = groups.get(JSON.stringify([t, b]))
        .sort((x, y) => (M.parseTime(y.created) || 0) - (M.parseTime(x.created) || 0))
        .slice(0, perTree);
      const trs = list.map((n) => {
        const tr = M.row(checkoutCells(n, null), { dataset: { id: n.id } });
        rows.push([n, tr]);
        return tr;
      });
      const total = groups.get(JSON.stringify([t, b])).length;
      return el('section', { class: 'panel', dataset: { tree: t, branch: b } },
        el('h2', {}, pageLink('viewer', { view: 'trees', tree: t, branch: b }, `${t} / ${b}`),
          ' ', el('span', { class: 'muted', text: `${total} checkout${total === 1 ? '' : 's'}` })),
        el('div', { class: 'table-wrap' }, el('table', {}, head(), el('tbody', {}, trs))));
    });
    show(out, sections);
    const refresh = () => M.pool(rows.map(([n, tr]) => async () => {
      try {
        const c = await counts(n);
        tr.replaceChildren(...M.row(checkoutCells(n, c)).children);
      } catch (e) {
        tr.replaceChildren(...M.row(checkoutCells(n, null)).children);
        tr.lastChild.textContent = e.message;
      }
    }), 4);
    await refresh();
    app.dataset.ready = 'true';

    let pending = null;
    let last = Date.now();
    M.live({
      filter: {},
      status,
      onResync: () => refresh(),
      onEvent: (ev) => {
        const p = M.nodeEvent(ev);
        if (!p || pending) return;
        const wait = Math.max(0, REFRESH_MS - (Date.now() - last));
        pending = setTimeout(async () => {
          // A checkout's own state and result come with the refresh of its node.
          await Promise.all(rows.map(async (r) => {
            r[0] = await M.get(`node/${r[0].id}`).catch(() => r[0]);
          }));
          await refresh();
          last = Date.now();
          pending = null;
        }, wait);
      },
    });
  }

  /** Two header rows: the checkout's columns, then builds and tests with their counts. */
  function head() {
    const counts = ['total', ...RESULTS];
    return el('thead', {},
      el('tr', {}, ['checkout', 'created', 'state', 'result'].map((c) => el('th', { rowspan: 2, text: c })),
        KINDS.map(([, label]) => el('th', { colspan: counts.length, class: 'group', text: label }))),
      el('tr', {}, KINDS.flatMap(() => counts.map((c) => el('th', { class: 'num', text: c })))));
  }

  function checkoutCells(n, c) {
    const kr = (n.data && n.data.kernel_revision) || {};
    return [
      [pageLink('viewer', { node_id: n.id }, el('code', { text: kr.describe || (kr.commit || n.id).slice(0, 12) }))],
      M.fmtTime(n.created),
      badge(n.state),
      badge(n.result),
      ...countCells(c),
    ];
  }

  M.showWho();
  load();
})();
