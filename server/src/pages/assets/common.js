// What every Maestro page shares: building DOM from data (always as text, never as HTML),
// calling the JSON API of the same server, the signed-in token, and small formatters.
'use strict';

const M = (() => {
  // Pages sit at `viewer`, `latest/viewer`, `v0/viewer`, `user/invite`, ...: the API is
  // beside them (`data-root` says how far up), under whatever prefix the page came with.
  const root = new URL(document.body.dataset.root || './', location.href);

  /** The URL of API `path` (relative, such as `nodes`), with `params` appended. */
  function url(path, params) {
    const u = new URL(path, root);
    for (const [k, v] of entries(params)) {
      if (v !== undefined && v !== null && v !== '') u.searchParams.append(k, String(v));
    }
    return u;
  }

  function entries(params) {
    if (!params) return [];
    if (params instanceof URLSearchParams || Array.isArray(params)) return [...params];
    return Object.entries(params);
  }

  /** `href` if it is an http(s) URL (relative ones resolved), else null: data from the API
   * never becomes a `javascript:` link. */
  function safeHref(href) {
    if (typeof href !== 'string' || href === '') return null;
    try {
      const u = new URL(href, location.href);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch (_) {
      return null;
    }
  }

  /** An element: `attrs` are properties (`class`, `text`, `href`, `on<event>`, `dataset`) or
   * attributes; `children` are nodes or strings (as text), arrays flattened, null skipped. */
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = String(v);
      else if (k === 'href') {
        const safe = safeHref(v);
        if (safe) e.setAttribute('href', safe);
      } else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
      else if (v === true) e.setAttribute(k, '');
      else e.setAttribute(k, String(v));
    }
    append(e, children);
    return e;
  }

  function append(parent, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  /** A link inside this site: `page` relative to the pages' root, with `params`. */
  function pageLink(page, params, ...children) {
    const a = el('a', {}, ...children);
    a.setAttribute('href', url(page, params).href);
    return a;
  }

  /** Replaces the content of `parent` (an element or its id). */
  function show(parent, ...children) {
    const p = typeof parent === 'string' ? document.getElementById(parent) : parent;
    p.replaceChildren();
    append(p, children);
    return p;
  }

  /** An error answer of the API, with its status and the text of its `detail`. */
  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  /** The text of an error body: `detail` as a string, FastAPI's list of problems, or
   * `{code, reason}`. */
  function describe(body, fallback) {
    const d = body && typeof body === 'object' ? body.detail ?? body.message : body;
    if (typeof d === 'string' && d !== '') return d;
    if (Array.isArray(d)) {
      return d.map((p) => [(p.loc || []).join('.'), p.msg].filter(Boolean).join(': ')).join('; ');
    }
    if (d && typeof d === 'object') return d.reason || d.code || JSON.stringify(d);
    return fallback;
  }

  /** Calls the API: `opts.params` (query), `opts.json` or `opts.form` (body), `opts.auth`
   * (send the token). Resolves to the JSON answer; rejects with an `ApiError`. */
  async function api(method, path, opts = {}) {
    const headers = { Accept: 'application/json' };
    let body;
    if (opts.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.form) {
      body = new URLSearchParams(opts.form);
    }
    const t = opts.token || (opts.auth ? token() : null);
    if (t) headers.Authorization = `Bearer ${t}`;
    let resp;
    try {
      resp = await fetch(url(path, opts.params), { method, headers, body, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, `The server could not be reached (${e.message})`);
    }
    const text = await resp.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = text;
    }
    if (!resp.ok) {
      throw new ApiError(resp.status, describe(data, `${resp.status} ${resp.statusText}`));
    }
    return data;
  }

  const get = (path, params, opts = {}) => api('GET', path, { ...opts, params });

  /** Every item of a paginated listing (`items`/`total`), `page` at a time, up to `max`. */
  async function getAll(path, params, opts = {}, max = 5000, page = 500) {
    const items = [];
    for (let offset = 0; offset < max; offset += page) {
      const p = new URLSearchParams(entries(params));
      p.set('limit', String(Math.min(page, max - offset)));
      p.set('offset', String(offset));
      const r = await get(path, p, opts);
      items.push(...(r.items || []));
      if (items.length >= r.total || (r.items || []).length === 0) {
        return { items, total: r.total };
      }
    }
    return { items, total: items.length, truncated: true };
  }

  /** Runs the async `jobs` with at most `n` at a time; resolves to their results. */
  async function pool(jobs, n = 6) {
    const out = new Array(jobs.length);
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]();
      }
    };
    await Promise.all(Array.from({ length: Math.min(n, jobs.length) }, worker));
    return out;
  }

  // The token of the signed-in user, kept for this browser (the pages share it).
  const TOKEN_KEY = 'maestro.token';
  const token = () => localStorage.getItem(TOKEN_KEY);
  function setToken(t) {
    if (t) localStorage.setItem(TOKEN_KEY, t);
    else localStorage.removeItem(TOKEN_KEY);
  }

  /** Logs in with the OAuth2 password form of `POST /user/login`; keeps the token. */
  async function login(username, password) {
    const r = await api('POST', 'user/login', { form: { username, password } });
    setToken(r.access_token);
    return r.access_token;
  }

  /** The signed-in user (`/whoami`), or null when there is no valid token. */
  async function whoami() {
    if (!token()) return null;
    try {
      return await api('GET', 'whoami', { auth: true });
    } catch (e) {
      if (e.status === 401 || e.status === 403) return null;
      throw e;
    }
  }

  /** A result or state as a coloured badge. */
  function badge(value) {
    const v = value === null || value === undefined ? '–' : String(value);
    return el('span', { class: `badge r-${v.replace(/[^a-z]/g, '')}`, text: v });
  }

  /** A naive UTC timestamp of the API (`2024-01-01T12:00:00.123000`) as `2024-01-01 12:00:00`. */
  function fmtTime(ts) {
    if (!ts) return '–';
    return String(ts).replace('T', ' ').replace(/\.\d+/, '').replace(/\+00:00$|Z$/, '');
  }

  /** The API's naive UTC timestamp as a Date. */
  function parseTime(ts) {
    if (!ts) return null;
    const s = String(ts);
    const d = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(s) ? s : `${s}Z`);
    return Number.isNaN(d.getTime()) ? null : d;
  }

  /** `ms` as `3d 4h`, `2h 5m`, `7m` or `12s`. */
  function fmtDuration(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    const [d, h, m] = [Math.floor(s / 86400), Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60];
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m`;
    return `${s}s`;
  }

  /** An ISO time (UTC, no fraction) `hours` ago, as the API's query strings take it. */
  function hoursAgo(hours) {
    return new Date(Date.now() - hours * 3600e3).toISOString().split('.')[0];
  }

  /** An error box for `err` (an `ApiError` or any error). */
  function errorBox(err) {
    const text = err instanceof ApiError || err instanceof Error ? err.message : String(err);
    return el('div', { class: 'error', role: 'alert', text });
  }

  /** A table with `columns` (strings, or `[label, className]`) and `rows` (arrays of cells). */
  function table(columns, rows, attrs = {}) {
    const head = el('tr', {}, columns.map((c) => {
      const [label, cls] = Array.isArray(c) ? c : [c, null];
      return el('th', { class: cls }, label);
    }));
    const body = el('tbody', {}, rows);
    return el('div', { class: 'table-wrap' }, el('table', attrs, el('thead', {}, head), body));
  }

  /** A row: each cell a node, a string, or `{value, class}`. */
  function row(cells, attrs = {}) {
    return el('tr', attrs, cells.map((c) => {
      if (c && typeof c === 'object' && !(c instanceof Node) && !Array.isArray(c)) {
        return el('td', { class: c.class }, c.value);
      }
      return el('td', {}, c);
    }));
  }

  /** The signed-in box of the header: who, and a sign-out link. */
  async function showWho() {
    const box = document.getElementById('who');
    if (!box) return null;
    const me = await whoami().catch(() => null);
    if (!me) {
      show(box, pageLink('manage', null, 'Sign in'));
      return null;
    }
    show(box, 'Signed in as ', el('strong', { text: me.username }), ' · ',
      el('a', { href: '#', onclick: (ev) => { ev.preventDefault(); setToken(null); location.reload(); } }, 'sign out'));
    return me;
  }

  /** A sign-in form: username and password (`POST /user/login`), or a pasted token. Calls
   * `onDone(me)` with the `/whoami` user once a token works. */
  function signInForm(onDone, why) {
    const msg = el('div', { id: 'signin-msg' });
    const user = el('input', { id: 'signin-username', name: 'username', autocomplete: 'username', required: true });
    const pass = el('input', { id: 'signin-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const tok = el('input', { id: 'signin-token', name: 'token', size: 40, placeholder: 'eyJhbGciOi…' });
    const done = async () => {
      const me = await whoami();
      if (!me) {
        setToken(null);
        throw new Error('The token was not accepted (expired, or the user is inactive or unverified).');
      }
      onDone(me);
    };
    const attempt = (fn) => async (ev) => {
      ev.preventDefault();
      show(msg);
      try {
        await fn();
        await done();
      } catch (e) {
        show(msg, errorBox(e.status === 400 ? new Error('Wrong username or password.') : e));
      }
    };
    const login1 = el('form', { class: 'inline', id: 'signin-form', onsubmit: attempt(() => login(user.value, pass.value)) },
      el('label', {}, 'Username', user), el('label', {}, 'Password', pass),
      el('button', { class: 'primary', type: 'submit', id: 'signin-submit' }, 'Sign in'));
    const login2 = el('form', { class: 'inline', id: 'token-form', onsubmit: attempt(async () => setToken(tok.value.trim())) },
      el('label', {}, 'Or paste an API token', tok), el('button', { type: 'submit' }, 'Use token'));
    return el('div', { class: 'panel', id: 'signin' },
      el('p', {}, why || 'Sign in to continue.'), login1, login2, msg);
  }

  /** Shows the sign-in form in `container` until someone is signed in; then `onUser(me)`. */
  async function requireUser(container, onUser, why) {
    const me = await whoami().catch(() => null);
    if (me) return onUser(me);
    show(container, signInForm(async (who) => {
      await showWho();
      onUser(who);
    }, why));
    return null;
  }

  return {
    signInForm, requireUser,
    root, url, safeHref, el, append, pageLink, show, ApiError, describe, api, get, getAll, pool,
    token, setToken, login, whoami, badge, fmtTime, parseTime, fmtDuration, hoursAgo, errorBox,
    table, row, showWho,
  };
})();
