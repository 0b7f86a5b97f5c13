// fake-chat-server.mjs — a scriptable server speaking the resident side of
// switchboard.chat.v1 (docs/chat-protocol.md), for the widget's e2e tests of states
// the real daemon cannot be put in on demand (refusing connections, replaying
// everything, expiring a token, a position in a long queue). It checks the widget
// against the contract: the subprotocol, the Origin, the message shapes and limits,
// and answers as the contract says (acks with seq only once, the same seq for a
// repeated client_id, replay after `after`, expired tokens). daemon.test.mjs runs
// the widget against the daemon itself. Never served in production.
//
// Serves web-chat-widget/ at /widget/ with the CSP the council pages use, pages a
// test adds (opts.pages: path -> HTML), and
// /widget/topics.json from opts.topics (docs/chat-protocol.md, "Topics"; null: 503):
// a start or a left message for a queue not in it is answered not_found, as the
// daemon answers for a queue that does not take chat.
// WebSocket framing is written here over node's http 'upgrade' event (RFC 6455):
// text, close, ping and pong frames, fragmented messages, 16 KiB limit (1009),
// invalid UTF-8 (1007); frames from the client must be masked.
//
// Scriptable: import { startServer } and call the returned object's methods, or run
// `node fake-chat-server.mjs [port]` and POST JSON to /_control/METHOD with {"args":[...]}.
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WIDGET = path.resolve(HERE, '../../web-chat-widget');
const PROTOCOL = 'switchboard.chat.v1';
const CSP = "default-src 'self'; object-src 'none'; base-uri 'none'";
const MAX = 16 * 1024;
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.md': 'text/markdown; charset=utf-8' };
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ---- WebSocket framing ----
function frame(op, payload) {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | op, n])
    : n < 65536 ? Buffer.from([0x80 | op, 126, n >> 8, n & 255])
      : Buffer.concat([Buffer.from([0x80 | op, 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
  return Buffer.concat([head, payload]);
}

class Sock {
  constructor(socket, onText, onClose) {
    Object.assign(this, { socket, onText, onClose, buf: Buffer.alloc(0), parts: [], open: true });
    socket.on('data', d => { this.buf = Buffer.concat([this.buf, d]); this.parse(); });
    socket.on('close', () => this.gone());
    socket.on('error', () => this.gone());
  }
  gone() {
    if (!this.open) return;
    this.open = false;
    this.onClose();
  }
  send(obj) {
    if (this.open) this.socket.write(frame(1, Buffer.from(JSON.stringify(obj))));
  }
  close(code) {
    if (!this.open) return;
    const b = Buffer.alloc(2);
    b.writeUInt16BE(code);
    this.socket.end(frame(8, b));
    this.gone();
  }
  parse() {
    while (this.open && this.buf.length >= 2) {
      const b0 = this.buf[0], b1 = this.buf[1];
      let len = b1 & 127, off = 2;
      if (len === 126) { if (this.buf.length < 4) return; len = this.buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (this.buf.length < 10) return; len = Number(this.buf.readBigUInt64BE(2)); off = 10; }
      if (!(b1 & 128)) return this.close(1002);
      if (len > MAX) return this.close(1009);
      if (this.buf.length < off + 4 + len) return;
      const mask = this.buf.subarray(off, off + 4);
      const data = Buffer.from(this.buf.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < data.length; i++) data[i] ^= mask[i & 3];
      this.buf = this.buf.subarray(off + 4 + len);
      const op = b0 & 15, fin = b0 & 128;
      if (op === 8) return this.close(1000);
      if (op === 9) { this.socket.write(frame(10, data)); continue; }
      if (op === 10) continue;
      if (op === 1 || op === 0) {
        this.parts.push(data);
        if (Buffer.concat(this.parts).length > MAX) return this.close(1009);
        if (!fin) continue;
        const all = Buffer.concat(this.parts);
        this.parts = [];
        let text;
        try { text = new TextDecoder('utf-8', { fatal: true }).decode(all); } catch { return this.close(1007); }
        this.onText(text);
      } else return this.close(1003);
    }
  }
}

// The topics the scripted deployment publishes: council-tax and bins open,
// housing closed (leave a message) until tomorrow 08:30.
function defaultTopics() {
  const t = new Date();
  t.setDate(t.getDate() + 1);
  t.setHours(8, 30, 0, 0);
  return { topics: [
    { queue: 'bins', name: 'Bins and recycling', open: true, out_of_hours: 'leave_message' },
    { queue: 'council-tax', name: 'Council Tax', open: true, out_of_hours: 'leave_message' },
    { queue: 'housing', name: 'Housing', open: false, out_of_hours: 'leave_message', next_open_ms: t.getTime(),
      message: 'Our housing team is available Monday to Friday, 8:30am to 5pm.' }
  ] };
}

// ---- the resident side of switchboard.chat.v1 ----
export async function startServer(port = 0) {
  let seq = 1000, convN = 0;
  const convs = new Map();       // id -> conversation
  const byToken = new Map();     // token -> conversation
  const socks = new Set();
  const received = [];           // every message a widget sent: {type, ...}
  const opts = { refuse: false, closed: new Set(), replayAll: false, autoDeliver: true, start: { position: 3, estimated_wait_ms: 240000 },
    topics: defaultTopics(), pages: new Map() };
  const exists = q => !opts.topics || opts.topics.topics.some(t => t.queue === q);
  let srv;

  const out = (c, obj) => { if (c.sock) c.sock.send(obj); };
  const err = (s, code, message, id) => s.send({ type: 'error', code, message, ...(id !== undefined ? { id } : {}) });
  // Numbers with gaps (at least 2), as the daemon's, which number every conversation's
  // messages from one sequence.
  const store = (c, m) => { seq += 2 + Math.floor(Math.random() * 8); const x = { seq, at: Date.now(), ...m }; c.messages.push(x); return x; };

  function onMessage(s, text) {
    let m;
    try { m = JSON.parse(text); } catch { return err(s, 'bad_json', 'not JSON'); }
    if (!m || typeof m !== 'object' || Array.isArray(m) || typeof m.type !== 'string') return err(s, 'bad_message', 'no type');
    received.push(m);
    const id = m.id, c = s.conv;
    const need = () => { if (!c) err(s, 'not_started', 'start or resume first', id); return !!c; };
    switch (m.type) {
    case 'chat.start': {
      if (typeof m.queue !== 'string' || typeof m.name !== 'string' || !m.name || Buffer.byteLength(m.name) > 200) return err(s, 'bad_message', 'queue and name', id);
      if (m.page && (typeof m.page.url !== 'string' || typeof m.page.title !== 'string')) return err(s, 'bad_message', 'page', id);
      if (!exists(m.queue)) return err(s, 'not_found', 'no such queue takes chat', id);
      // Nobody signed in serves the queue now (the daemon's "unserved").
      if (opts.unserved) {
        return s.send({ type: 'chat.closed', id, reason: 'unserved', message: 'No advisor is available for this topic right now.', leave_message: true });
      }
      if (opts.closed.has(m.queue)) {
        s.send({ type: 'chat.closed', message: 'Our advisors are not online now.', leave_message: true, next_open_ms: 15 * 3600 * 1000 });
        return err(s, 'closed', 'queue closed', id);
      }
      const conv = { id: ++convN, reference: 'CT-' + (4000 + convN), token: crypto.randomBytes(32).toString('base64url'),
        queue: m.queue, name: m.name, email: m.email, mobile: m.mobile, state: 'queued', advisor: null,
        messages: [], byClient: new Map(), sends: new Map(), pages: m.page ? [m.page] : [], reads: [], typing: [],
        position: opts.start.position, wait: opts.start.estimated_wait_ms, sock: s, expired: false, rating: null };
      convs.set(conv.id, conv);
      byToken.set(conv.token, conv);
      s.conv = conv;
      s.send({ type: 'chat.started', id, conversation: conv.id, reference: conv.reference, token: conv.token });
      s.send({ type: 'chat.queued', position: conv.position, estimated_wait_ms: conv.wait });
      return;
    }
    case 'chat.resume': {
      const conv = byToken.get(m.token);
      if (!conv || conv.expired) return err(s, 'expired', 'token unknown or too old', id);
      if (typeof m.after !== 'number') return err(s, 'bad_message', 'after', id);
      if (conv.sock && conv.sock !== s) conv.sock.close(1000);
      conv.sock = s;
      s.conv = conv;
      s.send({ type: 'chat.resumed', id, conversation: conv.id, reference: conv.reference, state: conv.state,
        ...(conv.advisor ? { advisor: { name: conv.advisor } } : {}), ...(conv.state === 'queued' ? { position: conv.position } : {}) });
      for (const x of conv.messages) if (opts.replayAll || x.seq > m.after) s.send({ type: 'message', ...x });
      if (conv.state === 'queued') s.send({ type: 'chat.queued', position: conv.position, estimated_wait_ms: conv.wait });
      return;
    }
    case 'message.send': {
      if (!need()) return;
      if (typeof m.client_id !== 'string' || !UUID_RE.test(m.client_id) || typeof m.text !== 'string' || !m.text) return err(s, 'bad_message', 'client_id and text', id);
      c.sends.set(m.client_id, (c.sends.get(m.client_id) || 0) + 1);
      if (c.state === 'ended') return err(s, 'ended', 'chat is over', id);
      if ([...m.text].length > 4000) return err(s, 'too_long', 'text over 4000', id);
      let x = c.byClient.get(m.client_id);
      if (!x) {
        x = store(c, { from: 'resident', text: m.text, client_id: m.client_id });
        c.byClient.set(m.client_id, x);
      }
      s.send({ type: 'message.ack', ...(id !== undefined ? { id } : {}), client_id: m.client_id, seq: x.seq, at: x.at });
      if (opts.autoDeliver && c.state === 'assigned') setTimeout(() => out(c, { type: 'message.status', seq: x.seq, state: 'delivered' }), 20);
      return;
    }
    case 'message.read': if (need()) c.reads.push(m.seq); return;
    case 'typing': if (need()) c.typing.push(!!m.state); return;
    case 'page':
      if (!need()) return;
      if (typeof m.url !== 'string' || typeof m.title !== 'string') return err(s, 'bad_message', 'url and title', id);
      c.pages.push({ url: m.url, title: m.title });
      return;
    case 'chat.end':
      if (!need()) return;
      c.state = 'ended';
      c.endedBy = 'resident';
      s.send({ type: 'chat.ended', id, by: 'resident' });
      return;
    case 'rating':
      if (!need()) return;
      if (!Number.isInteger(m.score) || m.score < 1 || m.score > 5 || (m.comment != null && (typeof m.comment !== 'string' || m.comment.length > 2000))) return err(s, 'bad_message', 'score 1-5', id);
      c.rating = { score: m.score, comment: m.comment };
      s.send({ type: 'rating.saved', id });
      return;
    case 'transcript.request':
      if (!need()) return;
      if (!c.email && !m.email) return err(s, 'bad_message', 'no email known', id);
      c.transcript = m.email || c.email;
      s.send({ type: 'transcript.queued', id });
      return;
    case 'message.leave': {
      if (typeof m.queue !== 'string' || typeof m.name !== 'string' || !m.name || typeof m.text !== 'string' || !m.text || (!m.email && !m.mobile)) return err(s, 'bad_message', 'queue, name, email or mobile, text', id);
      if (!exists(m.queue)) return err(s, 'not_found', 'no such queue takes chat', id);
      const ref = 'LM-' + (7000 + (++convN));
      left.push({ ...m, reference: ref });
      s.send({ type: 'message.left', id, reference: ref });
      return;
    }
    case 'session.extend':
      if (!need()) return;
      c.extended = (c.extended || 0) + 1;
      s.send({ type: 'session.extended', id, expires_ms: 600000 });
      return;
    default:
      return err(s, 'unknown_type', 'unknown type ' + m.type, id);
    }
  }
  const left = [];

  function upgrade(req, socket) {
    const protos = String(req.headers['sec-websocket-protocol'] || '').split(',').map(x => x.trim());
    const origin = req.headers.origin, self = 'http://' + req.headers.host;
    const fail = (code, why) => { socket.end(`HTTP/1.1 ${code} ${why}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`); };
    if (new URL(req.url, self).pathname !== '/ws') return fail(404, 'Not Found');
    if (opts.refuse) return fail(503, 'Service Unavailable');
    if (!protos.includes(PROTOCOL)) return fail(400, 'Bad Request');
    if (origin !== self) return fail(403, 'Forbidden');
    if (req.headers['sec-websocket-version'] !== '13' || !req.headers['sec-websocket-key']) return fail(400, 'Bad Request');
    const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${PROTOCOL}\r\n\r\n`);
    socket.setNoDelay(true);
    const s = new Sock(socket, t => onMessage(s, t), () => {
      socks.delete(s);
      if (s.conv && s.conv.sock === s) s.conv.sock = null;
    });
    socks.add(s);
    s.send({ type: 'hello', protocol: PROTOCOL, limits: { message_max: MAX, text_max: 4000, idle_timeout_s: 600 } });
  }

  // The test's levers: the advisor's desk and the server's moods.
  const api = {
    opts, received, left, convs, topicRequests: 0, defaultTopics,
    conv: (id) => (id ? convs.get(id) : [...convs.values()].at(-1)),
    connected: () => socks.size,
    queue(id, position, wait = 60000) { const c = api.conv(id); Object.assign(c, { position, wait, state: 'queued' }); out(c, { type: 'chat.queued', position, estimated_wait_ms: wait }); },
    // Back in a queue: reason 'requeued' (the advisor's desk went) or 'transferred' (to 'queue' or 'advisor').
    requeue(id, reason = 'requeued', to) { const c = api.conv(id); Object.assign(c, { advisor: null, state: 'queued' }); out(c, { type: 'chat.requeued', reason, ...(to ? { to } : {}) }); },
    assign(id, name = 'Sam') { const c = api.conv(id); Object.assign(c, { advisor: name, state: 'assigned' }); out(c, { type: 'chat.assigned', advisor: { name } }); },
    say(id, text) { const c = api.conv(id); const x = store(c, { from: 'advisor', name: c.advisor, text }); out(c, { type: 'message', ...x }); return x.seq; },
    // A message numbered just below the newest but committed after it (on another
    // instance), so never sent live: only a replay that starts low enough brings it.
    sayLate(id, text) {
      const c = api.conv(id);
      const x = { seq: c.messages.at(-1).seq - 1, at: Date.now(), from: 'advisor', name: c.advisor, text };
      c.messages.push(x);
      c.messages.sort((a, b) => a.seq - b.seq);
      return x.seq;
    },
    status(id, s, state) { out(api.conv(id), { type: 'message.status', seq: s, state }); },
    typing(id, state) { out(api.conv(id), { type: 'typing', state }); },
    expiring(id, ms = 30000) { out(api.conv(id), { type: 'session.expiring', expires_ms: ms }); },
    end(id, by = 'advisor') { const c = api.conv(id); c.state = 'ended'; out(c, { type: 'chat.ended', by }); },
    expire(id) { api.conv(id).expired = true; },
    drop() { for (const s of socks) { s.open = false; s.socket.destroy(); s.onClose(); } socks.clear(); },
    refuse(on) { opts.refuse = !!on; },
    closeQueue(q, on = true) { if (on) opts.closed.add(q); else opts.closed.delete(q); },
    url: '',
    close: () => new Promise(r => { api.drop(); srv.close(() => r()); })
  };

  srv = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname.startsWith('/_control/') && req.method === 'POST') {
      let body = '';
      req.on('data', d => { body += d; });
      req.on('end', () => {
        const fn = api[u.pathname.slice(10)];
        let r;
        try { r = typeof fn === 'function' ? fn(...(JSON.parse(body || '{}').args || [])) : undefined; } catch (e) { r = String(e); }
        res.writeHead(typeof fn === 'function' ? 200 : 404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(r ?? null));
      });
      return;
    }
    const headers = { 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'same-origin', 'Cache-Control': 'no-store' };
    if (u.pathname === '/') { res.writeHead(302, { ...headers, Location: '/widget/demo/' }); return res.end(); }
    if (opts.pages.has(u.pathname)) {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' });
      return res.end(opts.pages.get(u.pathname));
    }
    if (u.pathname === '/widget/topics.json') {
      api.topicRequests++;
      const t = opts.topics;
      res.writeHead(t ? 200 : 503, { ...headers, 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' });
      return res.end(JSON.stringify(t ? { ...t, now_ms: Date.now() } : { error: 'topics not known yet' }));
    }
    let p = null;
    if (u.pathname.startsWith('/widget/')) {
      p = path.resolve(WIDGET, '.' + decodeURIComponent(u.pathname.slice(7)));
      if (!p.startsWith(WIDGET)) p = null;
      else if (p.endsWith('/') || (fs.existsSync(p) && fs.statSync(p).isDirectory())) p = path.join(p, 'index.html');
    }
    if (!p || !fs.existsSync(p)) { res.writeHead(404, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }); return res.end('not found'); }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(p)] || 'application/octet-stream' });
    fs.createReadStream(p).pipe(res);
  });
  srv.on('upgrade', upgrade);
  await new Promise(r => srv.listen(port, '127.0.0.1', r));
  api.url = `http://127.0.0.1:${srv.address().port}`;
  return api;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const s = await startServer(+process.argv[2] || 8099);
  console.log(`fake chat server (test stand-in) on ${s.url}/widget/demo/`);
}
