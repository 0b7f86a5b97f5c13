// The desk's WebSocket to the daemon (/ws, subprotocol switchboard.v1), reopened with
// backoff when it drops. Before each (re)connection it checks the staff session
// (GET /api/session): a socket opened without a valid session cookie would be taken
// for a resident's, so a lost session is reported instead of reconnecting.
//
// new DeskSocket({onmessage(msg), onstate(state, detail), onsession(gone)})
//   state: 'connecting' | 'open' | 'waiting' (detail: seconds until the next try) | 'closed'
export class DeskSocket {
  constructor(handlers) {
    this.h = handlers;
    this.ws = null;
    this.attempt = 0;
    this.timer = 0;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  // Closes for good (sign-out or lost session).
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = ws.onmessage = ws.onerror = null;
      try { ws.close(1000); } catch { /* already closed */ }
    }
    this.h.onstate('closed');
  }

  get open() { return !!this.ws && this.ws.readyState === WebSocket.OPEN && this.ready; }

  send(msg) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  async connect() {
    if (this.stopped) return;
    this.h.onstate('connecting');
    let r;
    try {
      r = await fetch('/api/session', { credentials: 'same-origin', cache: 'no-store' });
    } catch {
      this.retry();
      return;
    }
    if (this.stopped) return;
    if (r.status === 401) {
      this.stopped = true;
      this.h.onsession(true);
      return;
    }
    if (!r.ok) {
      this.retry();
      return;
    }
    const url = location.origin.replace(/^http/, 'ws') + '/ws';
    let ws;
    try {
      ws = new WebSocket(url, 'switchboard.v1');
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    this.ready = false;
    ws.onmessage = e => {
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      if (!m || typeof m.type !== 'string') return;
      if (m.type === 'desk.ready') {
        this.ready = true;
        this.attempt = 0;
        this.h.onstate('open');
      }
      this.h.onmessage(m);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      this.retry();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  // Exponential backoff with jitter: 0.5 s, 1 s, 2 s ... at most 30 s.
  retry() {
    if (this.stopped) return;
    const base = Math.min(30000, 500 * 2 ** Math.min(this.attempt, 6));
    const wait = Math.round(base / 2 + Math.random() * base / 2);
    this.attempt++;
    this.h.onstate('waiting', Math.ceil(wait / 1000));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), wait);
  }

  // Reconnect now (the advisor asked to).
  now() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.connect();
  }
}
