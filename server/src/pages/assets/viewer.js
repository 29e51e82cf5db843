// The viewer (`viewer`): a node by `?node_id=` with its parent, artifacts and children, live;
// a search by `?search=field<op>value` conditions (as the Python viewer takes them); and the
// tree/branch view `?view=trees` (trees.js).
'use strict';

const Viewer = (() => {
  const { el, show, badge, fmtTime, pageLink } = M;
  const params = new URLSearchParams(location.search);
  const app = document.getElementById('app');
  const SEARCH_LIMIT = 250;
  const MAX_CHILDREN = 2000;

  // The Python viewer's shorthand: `created>2024-01-01` is `created__gt=2024-01-01`.
  const OPERATORS = { '>': '__gt', '<': '__lt', '>=': '__gte', '<=': '__lte', '!=': '__ne', '=': '' };
  const CONDITION = /^([.a-zA-Z0-9_-]+)([<>!=]+)(.*)$/s;

  /** `[key, value]` of the API query for one condition; throws on a condition it cannot read. */
  function convert(condition) {
    const m = CONDITION.exec(condition.trim());
    if (!m || !(m[2] in OPERATORS)) {
      throw new Error(`Cannot read the condition "${condition}": write field=value, or use >, <, >=, <= or != for =`);
    }
    return [m[1] + OPERATORS[m[2]], m[3]];
  }

  /** The stream filter that events of nodes matching `conditions` surely pass (exact
   * conditions on fields the stream can filter); `exact` when it is the whole search. */
  function streamFilter(conditions) {
    const filter = { data: {} };
    let exact = true;
    for (const [key, value] of conditions) {
      if (['kind', 'owner', 'name', 'treeid'].includes(key)) filter[key] = value;
      else if (key.startsWith('data.') && !key.includes('__') && !['true', 'false', 'null'].includes(value.toLowerCase())) {
        filter.data[key.slice(5)] = value;
      } else exact = false;
    }
    return { filter, exact };
  }

  /** The quick links and the forms of the viewer's home. */
  function menu() {
    const day = M.hoursAgo(24);
    const week = M.hoursAgo(24 * 7);
    return el('div', { class: 'toolbar' },
      pageLink('viewer', [['search', 'kind=checkout'], ['search', `created>${day}`]], 'Checkouts of the last 24 h'),
      pageLink('viewer', [['search', 'kind=checkout'], ['search', `created>${week}`]], 'Checkouts of the last week'),
      pageLink('viewer', { view: 'trees' }, 'Trees and branches'));
  }

  function nodeForm(value) {
    const input = el('input', { name: 'node_id', placeholder: '65b09399b198ea6cb7bbffda', size: 28, value: value || '', required: true });
    return el('form', { class: 'inline', id: 'node-form', action: M.url('viewer').href, method: 'get' },
      el('label', {}, 'Node id', input), el('button', { class: 'primary', type: 'submit' }, 'Show'));
  }

  function searchForm(conditions) {
    const input = el('input', {
      id: 'search-input', size: 60, value: conditions.join(' '),
      placeholder: 'kind=checkout created>2024-01-01 data.kernel_revision.tree=mainline',
    });
    const form = el('form', { class: 'inline', id: 'search-form' },
      el('label', {}, 'Search (conditions separated by spaces)', input),
      el('button', { class: 'primary', type: 'submit' }, 'Search'));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const conds = input.value.split(/\s+/).filter(Boolean);
      location.assign(M.url('viewer', conds.map((c) => ['search', c])).href);
    });
    return form;
  }

  function home() {
    show(app, menu(), nodeForm(''), searchForm([]),
      el('p', { class: 'muted' }, 'Operators: = (exact), != , >, <, >=, <=; any API operator also works as field__op=value (__re, __in, __int, ...).'));
  }

  // ------------------------------------------------------------------ one node

  /** The rows of the node's facts. */
  function facts(node) {
    const dl = el('dl', { class: 'kv', id: 'node-facts' });
    const add = (k, ...v) => dl.append(el('dt', { text: k }), el('dd', {}, ...v));
    add('id', el('code', { text: node.id }));
    add('kind', node.kind);
    add('state', el('span', { id: 'node-state' }, badge(node.state)));
    add('result', el('span', { id: 'node-result' }, badge(node.result)));
    add('path', (node.path || []).join(' / '));
    if (node.parent) add('parent', pageLink('viewer', { node_id: node.parent }, el('code', { text: node.parent })));
    else add('parent', el('span', { class: 'muted', text: 'none (a root node)' }));
    add('group', node.group ?? '–');
    add('owner', node.owner ?? '–');
    add('tree id', node.treeid ?? '–');
    add('created', fmtTime(node.created));
    add('updated', fmtTime(node.updated));
    add('timeout', fmtTime(node.timeout));
    if (node.holdoff) add('holdoff', fmtTime(node.holdoff));
    if (node.retry_counter) add('retries', String(node.retry_counter));
    const kr = node.data && node.data.kernel_revision;
    if (kr) {
      add('revision', [kr.tree, kr.branch].filter(Boolean).join(' / '), ' ', el('code', { text: kr.describe || kr.commit || '' }));
      if (kr.url) add('repository', el('a', { href: kr.url, rel: 'noopener' }, kr.url));
    }
    if (node.data && node.data.platform) add('platform', node.data.platform);
    return dl;
  }

  function artifacts(node) {
    const names = Object.keys(node.artifacts || {}).sort();
    if (names.length === 0) return el('p', { class: 'muted', id: 'artifacts', text: 'No artifacts.' });
    return el('ul', { id: 'artifacts' }, names.map((name) => {
      const target = node.artifacts[name];
      const safe = M.safeHref(target);
      return el('li', {}, safe ? el('a', { href: safe, rel: 'noopener noreferrer', target: '_blank' }, name) : `${name}: `,
        safe ? '' : el('code', { text: String(target) }));
    }));
  }

  const CHILD_COLUMNS = ['name', 'kind', 'state', 'result', 'platform', 'created', 'took'];

  function took(node) {
    const [a, b] = [M.parseTime(node.created), M.parseTime(node.updated)];
    return a && b && node.state === 'done' ? M.fmtDuration(b - a) : '';
  }

  function childRow(node) {
    return M.row([
      pageLink('viewer', { node_id: node.id }, node.name),
      node.kind,
      { value: badge(node.state), class: 'c-state' },
      { value: badge(node.result), class: 'c-result' },
      (node.data && (node.data.platform || node.data.arch)) || '',
      fmtTime(node.created),
      { value: took(node), class: 'c-took' },
    ], { dataset: { id: node.id } });
  }

  /** Updates a row's state and result from an event payload, with a flash. */
  function updateRow(tr, payload) {
    tr.querySelector('.c-state').replaceChildren(badge(payload.state));
    tr.querySelector('.c-result').replaceChildren(badge(payload.result));
    tr.classList.remove('flash');
    void tr.offsetWidth; // restarts the animation
    tr.classList.add('flash');
  }

  async function showNode(id) {
    document.title = `Node ${id} – Maestro API Viewer`;
    const status = el('span', { class: 'live-status', id: 'live' });
    const head = el('div', { id: 'node-head' });
    const body = el('div', { id: 'node-body' });
    const children = el('div', { id: 'children' }, el('p', { class: 'muted', text: 'Loading children…' }));
    show(app, menu(), nodeForm(id), head, body, el('h2', {}, 'Children ', status), children);
    let node;
    try {
      node = await M.get(`node/${encodeURIComponent(id)}`);
    } catch (e) {
      show(head, M.errorBox(e.status === 404 ? new Error(`Node ${id} was not found.`) : e));
      show(children);
      return;
    }
    const render = (n) => {
      show(head, el('h2', { id: 'node-title', text: n.name }),
        el('div', { class: 'toolbar' },
          n.parent ? pageLink('viewer', { node_id: n.parent }, '↑ Parent') : null,
          pageLink('viewer', { search: `parent=${n.id}` }, 'Children as a search'),
          el('a', { href: M.url(`node/${n.id}`).href, target: '_blank', rel: 'noopener' }, 'Raw JSON')));
      show(body, facts(n), el('h3', {}, 'Artifacts'), artifacts(n), el('h3', {}, 'Data'),
        el('pre', { id: 'node-data', text: JSON.stringify(n.data ?? null, null, 2) }));
    };
    render(node);

    const rows = new Map();
    const tbody = el('tbody');
    const loadChildren = async () => {
      const r = await M.getAll('nodes', { parent: node.id }, {}, MAX_CHILDREN);
      rows.clear();
      r.items.sort((a, b) => String(a.name).localeCompare(String(b.name)));
      tbody.replaceChildren(...r.items.map((c) => {
        const tr = childRow(c);
        rows.set(c.id, tr);
        return tr;
      }));
      const note = r.truncated ? `Showing the first ${r.items.length} of ${r.total}.` : `${r.total} children.`;
      show(children, r.items.length ? el('table', { id: 'children-table' },
        el('thead', {}, el('tr', {}, CHILD_COLUMNS.map((c) => el('th', { text: c })))), tbody) : null,
      el('p', { class: 'muted', id: 'children-count', text: r.items.length ? note : 'No children.' }));
    };
    try {
      await loadChildren();
    } catch (e) {
      show(children, M.errorBox(e));
    }

    // Live: the events of this node's tree (all of them when it has no tree id); the node
    // and its children are picked out here, since the stream filters by fields, not ids.
    let refetch = null;
    const refreshNode = () => {
      clearTimeout(refetch);
      refetch = setTimeout(async () => {
        try {
          node = await M.get(`node/${node.id}`);
          render(node);
        } catch (_) { /* keeps the last good view */ }
      }, 200);
    };
    const depth = (node.path || []).length;
    M.live({
      filter: node.treeid ? { treeid: node.treeid } : {},
      status,
      onResync: () => { refreshNode(); loadChildren().catch(() => {}); },
      onEvent: async (ev) => {
        const p = M.nodeEvent(ev);
        if (!p) return;
        if (p.id === node.id) {
          refreshNode();
        } else if (rows.has(p.id)) {
          updateRow(rows.get(p.id), p);
        } else if (p.op === 'created' && Array.isArray(p.path) && p.path.length === depth + 1) {
          // The payload has no parent: a node one level down is read to see whose it is.
          const c = await M.get(`node/${p.id}`).catch(() => null);
          if (c && c.parent === node.id && !rows.has(c.id)) {
            if (rows.size === 0) await loadChildren().catch(() => {});
            else {
              const tr = childRow(c);
              rows.set(c.id, tr);
              tbody.append(tr);
              updateRow(tr, c);
            }
          }
        }
      },
    });
  }

  // ------------------------------------------------------------------ search

  async function showSearch(raw) {
    const status = el('span', { class: 'live-status', id: 'live' });
    const out = el('div', { id: 'results' }, el('p', { class: 'muted', text: 'Searching…' }));
    show(app, menu(), searchForm(raw), out);
    let conditions;
    try {
      conditions = raw.filter((c) => c.trim() !== '').map(convert);
    } catch (e) {
      show(out, M.errorBox(e));
      return;
    }
    if (conditions.length === 0) {
      show(out, el('p', { class: 'muted', text: 'Type conditions above to search.' }));
      return;
    }
    const offset = Number.parseInt(params.get('offset') || '0', 10) || 0;
    const query = [...conditions, ['limit', String(SEARCH_LIMIT)], ['offset', String(offset)]];
    let data;
    try {
      data = await M.get('nodes', query);
    } catch (e) {
      show(out, M.errorBox(e));
      return;
    }
    const items = data.items || [];
    items.sort((a, b) => (M.parseTime(b.created) || 0) - (M.parseTime(a.created) || 0));
    const revision = items.some((n) => n.data && n.data.kernel_revision);
    const columns = ['id', 'kind', 'name', 'platform', 'state', 'result', 'created', 'took'];
    if (revision) columns.push('tree', 'branch', 'commit');
    const rows = new Map();
    const trs = items.map((n) => {
      const kr = (n.data && n.data.kernel_revision) || {};
      const tr = M.row([
        [pageLink('viewer', { node_id: n.id }, el('code', { text: n.id })), ' ',
          pageLink('viewer', { search: `parent=${n.id}` }, '(children)')],
        n.kind,
        pageLink('viewer', { node_id: n.id }, n.name),
        (n.data && n.data.platform) || '',
        { value: badge(n.state), class: 'c-state' },
        { value: badge(n.result), class: 'c-result' },
        fmtTime(n.created),
        took(n),
        ...(revision ? [kr.tree || '', kr.branch || '', el('code', { text: (kr.commit || '').slice(0, 12) })] : []),
      ], { dataset: { id: n.id } });
      rows.set(n.id, tr);
      return tr;
    });
    const more = offset + items.length < data.total;
    const next = new URLSearchParams(params);
    next.set('offset', String(offset + SEARCH_LIMIT));
    const newNodes = el('span', { id: 'new-nodes' });
    show(out,
      el('p', { class: 'muted', id: 'result-count' },
        `${data.total} ${data.total === 1 ? 'node matches' : 'nodes match'}`, items.length < data.total ? `, showing ${offset + 1}–${offset + items.length}` : '',
        '. ', status, ' ', newNodes,
        more ? [' ', el('a', { href: `?${next}` }, 'next page →')] : null),
      items.length ? M.table(columns, trs, { id: 'results-table' }) : null);

    const { filter, exact } = streamFilter(conditions);
    let fresh = 0;
    M.live({
      filter,
      status,
      onResync: () => { newNodes.replaceChildren(el('a', { href: location.href }, 'events were skipped: reload')); },
      onEvent: (ev) => {
        const p = M.nodeEvent(ev);
        if (!p) return;
        if (rows.has(p.id)) updateRow(rows.get(p.id), p);
        else if (exact && p.op === 'created') {
          fresh += 1;
          newNodes.replaceChildren(el('a', { href: location.href }, `${fresh} new: reload`));
        }
      },
    });
  }

  function init() {
    M.showWho();
    if (params.get('view') === 'trees') {
      document.getElementById('title').textContent = 'Trees and branches';
      Trees.show(app, menu(), params);
    } else if (params.has('node_id')) {
      const id = params.get('node_id').trim();
      if (id) showNode(id);
      else show(app, menu(), nodeForm(''));
    } else if (params.has('search')) {
      showSearch(params.getAll('search'));
    } else {
      home();
    }
  }

  return { init, convert, streamFilter };
})();

Viewer.init();
