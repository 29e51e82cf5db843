// The live event stream of the pages: a WebSocket to `ws` (beside the pages, as the API),
// subscribed with a server-side filter, reconnecting with backoff and resuming after the
// last event seen so that nothing is missed across a reconnect.
'use strict';

/**
 * Follows the stream. `opts`:
 * - `channels` (default `['node']`) and `filter` (a StreamFilter: `kind`, `treeid`, ...);
 * - `onEvent(cloudEvent, message)` for each event;
 * - `onResync()` when the server skipped events (the page should reload what it shows);
 * - `status` (an element): shows whether the stream is live.
 * Returns `{stop(), resubscribe(filter)}`.
 */
M.live = function live(opts) {
  const MIN_DELAY = 1000;
  const MAX_DELAY = 30000;
  let ws = null;
  let since = null;
  let delay = MIN_DELAY;
  let timer = null;
  let stopped = false;
  let filter = opts.filter || {};

  const status = (text, cls) => {
    if (!opts.status) return;
    opts.status.textContent = text;
    opts.status.className = `live-status ${cls || ''}`;
  };

  const subscribe = () => {
    const msg = { type: 'subscribe', channels: opts.channels || ['node'], filter };
    // Resume after the last event seen: the server replays what was missed meanwhile.
    if (since !== null) msg.since = since;
    ws.send(JSON.stringify(msg));
  };

  const connect = () => {
    timer = null;
    const u = M.url('ws');
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    status('connecting…');
    ws = new WebSocket(u.href);
    ws.onopen = () => subscribe();
    ws.onmessage = (m) => {
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch (_) {
        return;
      }
      if (msg.type === 'subscribed') {
        delay = MIN_DELAY;
        if (since === null) since = msg.since;
        status('live', 'on');
      } else if (msg.type === 'event') {
        since = msg.sequence_id;
        opts.onEvent(msg.event || {}, msg);
      } else if (msg.type === 'resync') {
        // Events were skipped; the stream goes on from `from`, the page reloads its data.
        since = msg.from;
        if (opts.onResync) opts.onResync();
      } else if (msg.type === 'error') {
        status(`stream error: ${msg.detail}`, 'off');
      }
    };
    ws.onclose = () => {
      ws = null;
      if (stopped) return;
      status(`reconnecting in ${Math.round(delay / 1000)} s`, 'off');
      // Jittered exponential backoff: many open pages must not reconnect in lockstep after
      // a server restart.
      timer = setTimeout(connect, delay * (0.75 + Math.random() / 2));
      delay = Math.min(delay * 2, MAX_DELAY);
    };
  };

  connect();
  window.addEventListener('pagehide', () => {
    stopped = true;
    if (ws) ws.close();
  });

  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (ws) ws.close();
      status('stopped');
    },
    /** Changes the filter; events from now on (the replay position is kept). */
    resubscribe(newFilter) {
      filter = newFilter || {};
      if (ws && ws.readyState === WebSocket.OPEN) subscribe();
    },
  };
};

/** The node payload of a node event (`data` of the CloudEvent), or null. */
M.nodeEvent = function nodeEvent(cloudEvent) {
  const d = cloudEvent && cloudEvent.data;
  return d && typeof d === 'object' && typeof d.id === 'string' ? d : null;
};
