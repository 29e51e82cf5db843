// The subscriptions page (`stats`): the Pub/Sub subscriptions the server holds, from
// `GET /stats/subscriptions` (superusers only), refreshed every few seconds.
'use strict';

(() => {
  const { el, show } = M;
  const app = document.getElementById('app');
  const REFRESH_MS = 10000;

  function render(out, subs) {
    subs.sort((a, b) => a.id - b.id);
    const channels = new Map();
    for (const s of subs) channels.set(s.channel, (channels.get(s.channel) || 0) + 1);
    const summary = [...channels.entries()].sort().map(([c, n]) => `${c}: ${n}`).join(', ');
    show(out,
      el('p', { class: 'muted', id: 'subs-count' },
        `${subs.length} subscription${subs.length === 1 ? '' : 's'}`, summary ? ` (${summary})` : '',
        ` · updated ${new Date().toLocaleTimeString()}`),
      subs.length ? M.table(['id', 'channel', 'user', 'promiscuous', 'created', 'last poll', 'idle'], subs.map((s) => {
        const last = M.parseTime(s.last_poll || s.created);
        return M.row([
          { value: String(s.id), class: 'num' },
          s.channel, s.user ?? '–', s.promiscuous ? 'yes' : 'no',
          M.fmtTime(s.created), s.last_poll ? M.fmtTime(s.last_poll) : 'never',
          last ? M.fmtDuration(Date.now() - last) : '–',
        ], { dataset: { id: String(s.id) } });
      }), { id: 'subs-table' }) : el('p', { class: 'muted', text: 'Nobody is subscribed.' }));
  }

  function start(me) {
    const out = el('div', { id: 'subs' }, el('p', { class: 'muted', text: 'Loading…' }));
    const refresh = el('button', { type: 'button', id: 'subs-refresh' }, 'Refresh');
    show(app, el('div', { class: 'toolbar' }, refresh), out);
    if (!me.is_superuser) {
      show(out, M.errorBox(new Error(`Only superusers see the subscriptions; ${me.username} is not one.`)));
      return;
    }
    let timer = null;
    const load = async () => {
      clearTimeout(timer);
      try {
        render(out, await M.get('stats/subscriptions', null, { auth: true }));
      } catch (e) {
        show(out, M.errorBox(e));
      }
      timer = setTimeout(load, REFRESH_MS);
    };
    refresh.addEventListener('click', load);
    load();
  }

  M.showWho();
  M.requireUser(app, start, 'The subscriptions are shown to superusers: sign in as one.');
})();
