// The widget's WebSocket (subprotocol switchboard.chat.v1, docs/chat-protocol.md)
// with reconnection, and the browser storage that keeps the resume token,
// the last seq shown, the outbox and the shown messages across page loads.

export const PROTOCOL = 'switchboard.chat.v1';
const KEY = 'switchboard.chat.v1';

// A UUID for a message's client id; crypto.randomUUID needs a secure context.
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  const x = [...b].map(n => n.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

// sessionStorage, or localStorage when the page opts in; memory if neither works.
export function store(kind) {
  let s = null, mem = null;
  try { s = kind === 'local' ? localStorage : sessionStorage; s.getItem(KEY); } catch { s = null; }
  return {
    get() {
      try { return JSON.parse((s ? s.getItem(KEY) : mem) || 'null'); } catch { return null; }
    },
    set(v) {
      const j = JSON.stringify(v);
      try { if (s) s.setItem(KEY, j); else mem = j; } catch { mem = j; }
    },
    clear() {
      try { if (s) s.removeItem(KEY); } catch { /* storage refused */ }
      mem = null;
    }
  };
}

// One socket at a time; after a drop, reconnect with backoff 0.5 s doubling
// to 15 s, with jitter, while want() says there is something to keep alive.
export class Conn {
  constructor(url, onMsg, onDown, want) {
    Object.assign(this, { url, onMsg, onDown, want, ws: null, n: 0, timer: 0 });
    addEventListener('online', () => { if (!this.ws && this.want()) this.open(); });
  }

  open() {
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.ws) return;
    let ws;
    try { ws = new WebSocket(this.url, PROTOCOL); } catch { this.retry(); return; }
    this.ws = ws;
    ws.onmessage = e => {
      let m;
      try { m = JSON.parse(e.data); } catch { return; }
      if (m && typeof m.type === 'string') this.onMsg(m);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onDown();
      if (this.want()) this.retry();
    };
  }

  retry() {
    if (this.timer) return;
    const base = Math.min(15000, 500 * 2 ** this.n++);
    this.timer = setTimeout(() => this.open(), base / 2 + Math.random() * base / 2);
  }

  // The chat is back (started or resumed): the next drop starts from 0.5 s.
  settled() { this.n = 0; }

  send(obj) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }
}
