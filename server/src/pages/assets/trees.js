// The viewer's tree/branch view (`viewer?view=trees&tree=...&branch=...`): pick a tree and
// branch seen in recent checkouts, then see its builds as a matrix of build configuration by
// commit (the newest try of each), each cell linking to its node.
'use strict';

const Trees = (() => {
  const { el, show, badge, pageLink } = M;
  const LOOKBACK_DAYS = 28;
  const MAX_NODES = 2000;

  /** The tree/branch pairs of the checkouts since `since`, sorted. */
  async function pairs(since) {
    const r = await M.getAll('nodes', { kind: 'checkout', created__gt: since }, {}, MAX_NODES);
    const seen = new Map();
    for (const n of r.items) {
      const kr = (n.data && n.data.kernel_revision) || {};
      if (kr.tree && kr.branch) seen.set(`${kr.tree}/${kr.branch}`, { tree: kr.tree, branch: kr.branch });
    }
    return [...seen.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v);
  }

  function selector(list, tree, branch) {
    const select = el('select', { id: 'tree-select', name: 'pair' },
      el('option', { value: '', text: list.length ? 'Choose a tree / branch…' : 'No checkouts in the last 4 weeks' }),
      list.map((p) => el('option', {
        value: JSON.stringify([p.tree, p.branch]),
        text: `${p.tree} / ${p.branch}`,
        selected: p.tree === tree && p.branch === branch,
      })));
    const form = el('form', { class: 'inline', id: 'tree-form' },
      el('label', {}, 'Tree and branch', select),
      el('button', { class: 'primary', type: 'submit' }, 'Show builds'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!select.value) return;
      const [t, b] = JSON.parse(select.value);
      location.assign(M.url('viewer', { view: 'trees', tree: t, branch: b }).href);
    });
    return form;
  }

  /** The matrix of `kbuilds`: a row per build name, a column per commit (oldest first). */
  function matrix(kbuilds) {
    const commits = new Map();
    const cells = new Map();
    for (const n of kbuilds) {
      const kr = (n.data && n.data.kernel_revision) || {};
      if (!kr.commit || !n.name) continue;
      const when = M.parseTime(n.created) || new Date(0);
      const c = commits.get(kr.commit);
      if (!c || when < c.when) commits.set(kr.commit, { commit: kr.commit, describe: kr.describe, when });
      const key = `${n.name}\u0000${kr.commit}`;
      const prev = cells.get(key);
      // Retries make several builds of one configuration and commit: the newest counts.
      if (!prev || (M.parseTime(n.updated) || 0) > (M.parseTime(prev.updated) || 0)) cells.set(key, n);
    }
    const cols = [...commits.values()].sort((a, b) => a.when - b.when);
    const names = [...new Set(kbuilds.map((n) => n.name).filter(Boolean))].sort();
    const head = el('tr', {}, el('th', { text: 'build' }),
      cols.map((c) => el('th', { class: 'commit', title: c.describe || c.commit, text: c.commit.slice(0, 12) })));
    const rows = names.map((name) => el('tr', {}, el('td', { text: name }), cols.map((c) => {
      const n = cells.get(`${name}\u0000${c.commit}`);
      if (!n) return el('td', { class: 'cell muted', text: '·' });
      const label = n.result || n.state;
      return el('td', { class: 'cell' }, pageLink('viewer', { node_id: n.id }, badge(label)));
    })));
    return el('div', { class: 'table-wrap' },
      el('table', { class: 'matrix', id: 'tree-matrix' }, el('thead', {}, head), el('tbody', {}, rows)));
  }

  async function show_(app, menu, params) {
    const out = el('div', { id: 'tree-view' }, el('p', { class: 'muted', text: 'Loading trees…' }));
    const form = el('div');
    show(app, menu, form, out);
    const since = M.hoursAgo(24 * LOOKBACK_DAYS);
    const [tree, branch] = [params.get('tree'), params.get('branch')];
    try {
      show(form, selector(await pairs(since), tree, branch));
    } catch (e) {
      show(out, M.errorBox(e));
      return;
    }
    if (!tree || !branch) {
      show(out, el('p', { class: 'muted', text: 'Choose a tree and branch to see its builds of the last 4 weeks.' }));
      return;
    }
    try {
      const rev = { 'data.kernel_revision.tree': tree, 'data.kernel_revision.branch': branch, created__gt: since };
      const [kbuilds, checkouts] = await Promise.all([
        M.getAll('nodes', { kind: 'kbuild', ...rev }, {}, MAX_NODES),
        M.getAll('nodes', { kind: 'checkout', ...rev }, {}, MAX_NODES),
      ]);
      checkouts.items.sort((a, b) => (M.parseTime(b.created) || 0) - (M.parseTime(a.created) || 0));
      show(out,
        el('h2', { text: `${tree} / ${branch}` }),
        el('p', { class: 'muted', text: `${checkouts.total} checkouts and ${kbuilds.total} builds in the last ${LOOKBACK_DAYS} days.` }),
        kbuilds.items.length ? matrix(kbuilds.items) : el('p', { class: 'muted', text: 'No builds.' }),
        el('h3', { text: 'Checkouts' }),
        M.table(['checkout', 'commit', 'state', 'result', 'created'], checkouts.items.map((n) => {
          const kr = (n.data && n.data.kernel_revision) || {};
          return M.row([pageLink('viewer', { node_id: n.id }, n.name), el('code', { text: kr.describe || kr.commit || '' }),
            badge(n.state), badge(n.result), M.fmtTime(n.created)]);
        }), { id: 'tree-checkouts' }));
    } catch (e) {
      show(out, M.errorBox(e));
    }
  }

  return { show: show_, matrix };
})();
