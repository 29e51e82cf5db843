// The API documentation page: renders the server's own `openapi.json` (operations grouped
// by tag, their parameters, bodies, answers and schemas) with a "try it" form per
// operation. Everything from the document reaches the DOM as text (`M.el`).
'use strict';

(() => {
  const { el, show, errorBox } = M;
  const app = document.getElementById('app');

  /** The schema name of a `$ref`, or a short description of an inline schema. */
  function typeOf(s) {
    if (!s) return 'any';
    if (s.$ref) return s.$ref.split('/').pop();
    if (s.oneOf || s.anyOf) return (s.oneOf || s.anyOf).map(typeOf).join(' | ');
    const t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type || 'any');
    if (s.type === 'array' || (Array.isArray(s.type) && s.type.includes('array'))) {
      return `${t} of ${typeOf(s.items)}`;
    }
    return s.enum ? `${t} (${s.enum.join(', ')})` : t;
  }

  function schemaTable(name, s) {
    const props = Object.entries(s.properties || {});
    const required = new Set(s.required || []);
    const body = props.length
      ? M.table(['field', 'type', 'description'], props.map(([k, v]) => M.row([
        required.has(k) ? `${k} *` : k, typeOf(v), v.description || ''])))
      : el('p', {}, typeOf(s), s.description ? ` — ${s.description}` : '');
    return el('details', { class: 'schema', id: `schema-${name}` },
      el('summary', {}, name), s.description ? el('p', {}, s.description) : null, body);
  }

  /** The form that sends one operation to this server and shows the answer. */
  function tryIt(method, path, op) {
    const params = op.parameters || [];
    const inputs = params.map((p) => [p, el('input', { name: p.name, placeholder: typeOf(p.schema) })]);
    const hasBody = !!op.requestBody;
    const contentType = hasBody ? Object.keys(op.requestBody.content)[0] : null;
    const bodyInput = hasBody ? el('textarea', { rows: 4, placeholder: contentType }) : null;
    const out = el('pre', { class: 'answer' });
    const send = async (ev) => {
      ev.preventDefault();
      let url = path.replace(/^\/latest\//, '');
      const query = new URLSearchParams();
      for (const [p, input] of inputs) {
        if (!input.value) continue;
        if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(input.value));
        else if (p.in === 'query' && p.explode && p.schema && p.schema.type !== 'string' && !p.schema.$ref) {
          for (const [k, v] of new URLSearchParams(input.value)) query.append(k, v);
        } else if (p.in === 'query') query.append(p.name, input.value);
      }
      const headers = { Accept: 'application/json' };
      if (op.security && M.token()) headers.Authorization = `Bearer ${M.token()}`;
      let body;
      if (hasBody && bodyInput.value) {
        headers['Content-Type'] = contentType;
        body = bodyInput.value;
      }
      const q = query.toString();
      out.textContent = '…';
      try {
        const resp = await fetch(M.url(url) + (q ? `?${q}` : ''), { method: method.toUpperCase(), headers, body });
        out.textContent = `${resp.status} ${resp.statusText}\n${await resp.text()}`;
      } catch (e) {
        out.textContent = `The server could not be reached (${e.message})`;
      }
    };
    const fields = inputs.map(([p, input]) => el('label', {},
      `${p.name} (${p.in}${p.required ? ', required' : ''}) `, input));
    return el('form', { class: 'try', onsubmit: send }, ...fields,
      bodyInput ? el('label', {}, 'body ', bodyInput) : null,
      el('button', { type: 'submit' }, 'Try it'), out);
  }

  function operation(method, path, op) {
    const params = (op.parameters || []).map((p) => M.row([
      p.name, p.in, typeOf(p.schema), p.required ? 'yes' : '', p.description || '']));
    const body = op.requestBody
      ? Object.entries(op.requestBody.content).map(([ct, c]) => el('p', {}, `Body (${ct}): ${typeOf(c.schema)}`))
      : [];
    const answers = Object.entries(op.responses || {}).map(([status, r]) => M.row([
      status, r.description || '',
      Object.entries(r.content || {}).map(([ct, c]) => `${ct}: ${typeOf(c.schema)}`).join('; ')]));
    return el('details', { class: 'operation', 'data-operation': `${method.toUpperCase()} ${path}` },
      el('summary', {}, el('code', {}, method.toUpperCase()), ' ', el('code', {}, path), ' ',
        op.summary || '', op.security ? ' 🔒' : ''),
      op.description ? el('p', {}, op.description) : null,
      params.length ? M.table(['parameter', 'in', 'type', 'required', 'description'], params) : null,
      ...body,
      M.table(['status', 'description', 'body'], answers),
      tryIt(method, path, op));
  }

  async function load() {
    const doc = await M.get('openapi.json');
    const byTag = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const [method, op] of Object.entries(item)) {
        const tag = (op.tags && op.tags[0]) || 'other';
        if (!byTag.has(tag)) byTag.set(tag, { tag: { name: tag }, ops: [] });
        byTag.get(tag).ops.push(operation(method, path, op));
      }
    }
    const sections = [...byTag.values()].filter((g) => g.ops.length).map(({ tag, ops }) =>
      el('section', { class: 'tag', id: `tag-${tag.name}` },
        el('h2', {}, tag.name), tag.description ? el('p', {}, tag.description) : null, ...ops));
    const schemas = Object.entries((doc.components && doc.components.schemas) || {})
      .map(([name, s]) => schemaTable(name, s));
    show(app, el('p', {}, `${doc.info.title}, version ${doc.info.version}`),
      ...sections, el('section', { id: 'schemas' }, el('h2', {}, 'Schemas'), ...schemas));
  }

  M.showWho();
  load().catch((e) => show(app, errorBox(e)));
})();
