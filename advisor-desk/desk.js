// Switchboard advisor desk: sign-in, status, offers, the advisor's conversations and the
// chat conversation view, over REST (/api/session) and the desk protocol on /ws
// (docs/routing-protocol.md, docs/chat-protocol.md "Advisor side").
// Every string that comes from a resident or the network is put in the page with
// textContent (the el() helper), never as HTML.
import { DeskSocket } from './socket.js';
import { CannedPicker, firstName, leftovers, warning } from './canned.js';
import { WrapUp } from './wrapup.js';
import * as record from './record.js';
import * as queues from './queues.js';
import * as alerts from './alerts.js';
import * as voice from './voice.js';
import { $, el, ago, say, api, fieldError, plural, STATUS_TEXT, REASON_TEXT, ROLE_TEXT, channelName, RETURN_PAGES } from './common.js';

const { queueName } = queues;
const { phoneText } = voice;

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map(x => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
function clock(at) {
  const d = new Date(typeof at === 'number' ? at : Date.parse(at));
  return isNaN(d) ? '' : d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
}

// ---------------------------------------------------------------- state
const S = {
  me: null,
  status: 'unknown',
  reason: '',
  choosing: false,       // the advisor changed the status selector and has not set it yet
  offers: new Map(),     // conversation -> offer
  convs: new Map(),      // conversation -> conversation state
  open: null,            // the conversation shown
  acceptedHere: new Set(),
  queues: new Map(),     // queue id -> the last queue.view
  waiting: new Map(),    // request id -> handler(msg) for answers and errors
  seq: 0,
  capacity: null,        // channel -> how many the advisor may hold at once
  idleS: 0,              // the session's inactivity timeout (desk.ready)
  lastActive: 0,         // when the desk last sent something that counts as use
  idleFocus: null,
  typingSentAt: 0,
  typingOn: false,
  typingIdle: 0,
  count: { conv: null, level: 'ok' }, // a text's length against its limit, last announced
  gen: 0                 // grows with each routing event about a conversation (checkWrapups)
};
const sock = new DeskSocket({ onmessage, onstate, onsession: sessionGone });
let picker = null;   // the canned-response picker (canned.js)
let wrap = null;     // the wrap-up form (wrapup.js)

function request(msg, handler) {
  if (msg.type !== 'conversation.read') S.lastActive = Date.now();
  const id = 'd' + (++S.seq);
  msg.id = id;
  if (handler) S.waiting.set(id, handler);
  // Until desk.ready the daemon answers every message not_ready.
  if (!sock.open || !sock.send(msg)) {
    S.waiting.delete(id);
    if (handler) handler({ type: 'error', code: 'offline', message: 'not connected', id });
    return false;
  }
  return true;
}

// ---------------------------------------------------------------- sign-in
function showSignIn(note) {
  $('desk').hidden = true;
  $('who').hidden = true;
  $('signin').hidden = false;
  $('signin-note').textContent = note || '';
  document.title = 'Sign in – Switchboard advisor desk';
  $('signin-h').focus();
}
function formError(text) {
  $('signin-error-text').textContent = text || '';
  $('signin-error').hidden = !text;
}
async function signIn(ev) {
  ev.preventDefault();
  const login = $('login'), password = $('password');
  formError('');
  fieldError(login, 'login-err', login.value.trim() ? '' : 'Enter your login');
  fieldError(password, 'password-err', password.value ? '' : 'Enter your password');
  if (!login.value.trim() || !password.value) {
    (login.value.trim() ? password : login).focus();
    return;
  }
  const btn = $('signin-btn');
  btn.disabled = true;
  btn.textContent = 'Signing in…';
  let r = null;
  try {
    r = await fetch('/api/session', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'switchboard-desk' },
      body: JSON.stringify({ login: login.value.trim(), password: password.value })
    });
  } catch {
    r = null;
  }
  btn.disabled = false;
  btn.textContent = 'Sign in';
  if (r && r.ok) {
    const info = await r.json().catch(() => ({}));
    password.value = '';
    // Signed in from the wallboard or the admin page: back there.
    const next = new URLSearchParams(location.search).get('next');
    if (RETURN_PAGES.includes(next)) {
      location.assign(next);
      return;
    }
    startDesk(info);
    return;
  }
  if (r && r.status === 401) {
    fieldError(password, 'password-err', 'The login or password is not right. Check both and try again.');
    login.setAttribute('aria-invalid', 'true');
    login.setAttribute('aria-describedby', 'password-err');
    password.value = '';
    password.focus();
  } else if (r && r.status === 429) {
    formError('Too many failed sign-in attempts. Wait a few minutes, then try again.');
    login.focus();
  } else {
    formError(r ? `Signing in failed (the server answered ${r.status}). Try again in a moment.`
      : 'Switchboard cannot be reached. Check your connection and try again.');
    login.focus();
  }
}

// The wallboard and canned responses are for supervisors and admins, staff accounts for admins.
function roleLinks(role) {
  S.role = role || '';
  $('link-wallboard').hidden = role !== 'supervisor' && role !== 'admin';
  $('link-settings').hidden = role !== 'supervisor' && role !== 'admin';
  $('link-admin').hidden = role !== 'admin';
  $('link-audit').hidden = role !== 'admin';
}

function startDesk(info) {
  $('signin').hidden = true;
  $('desk').hidden = false;
  $('who').hidden = false;
  $('who-name').textContent = info && info.name ? info.name : '';
  roleLinks(info && info.role);
  document.title = 'Advisor desk – Switchboard';
  renderStatus();
  renderOffers();
  renderInbox();
  renderConv();
  $('desk-h').focus();
  picker.load(true);
  alerts.load();
  sock.start();
}

function resetDesk() {
  S.capacity = null;
  for (const o of S.offers.values()) { clearInterval(o.timer); clearTimeout(o.sayTimer); }
  queues.reset();
  alerts.reset();
  fillQueueSelects();
  S.offers.clear();
  S.convs.clear();
  S.open = null;
  S.me = null;
  S.acceptedHere.clear();
  S.queues.clear();
  $('queues').replaceChildren();
  S.waiting.clear();
  S.status = 'unknown';
  S.reason = '';
  $('offers').replaceChildren();
  $('inbox').replaceChildren();
  picker.data = null;
  picker.hide(false);
  wrap.codes.clear();
  wrap.hide(false);
  record.reset();
  voice.reset();
}

async function signOut() {
  if (sock.open) {
    await new Promise(resolve => {
      const t = setTimeout(resolve, 2000);
      request({ type: 'desk.logout' }, () => { clearTimeout(t); resolve(); });
    });
  }
  sock.stop();
  try {
    await fetch('/api/session', { method: 'DELETE', credentials: 'same-origin',
      headers: { 'X-Requested-With': 'switchboard-desk' } });
  } catch { /* the session ends on its own */ }
  sessionStorage.removeItem('sb-desk-status');
  resetDesk();
  showSignIn('You have signed out.');
}

function sessionGone() {
  const idle = S.idleS && Date.now() - S.lastActive >= (S.idleS - 60) * 1000;
  closeIdle();
  sock.stop();
  resetDesk();
  showSignIn(idle
    ? `You were signed out because the desk was not used for ${plural(Math.round(S.idleS / 60), 'minute')}. Sign in again to carry on.`
    : 'Your session has ended. Sign in again to carry on.');
}

// ---------------------------------------------------------------- inactivity
// The daemon ends a session nobody used for idle_timeout_s (desk.ready tells it):
// what the desk sends counts as use, read receipts do not. Two minutes before, a
// dialog offers to stay signed in (GET /api/session counts as use).
const IDLE_WARN_S = 120;
function checkIdle() {
  if (!S.idleS || !S.me) return;
  const left = Math.round((S.lastActive + S.idleS * 1000 - Date.now()) / 1000);
  const dlg = $('idle-dlg');
  if (left > IDLE_WARN_S) {
    if (dlg.open) closeIdle();
    return;
  }
  const mins = Math.max(0, Math.ceil(left / 60));
  $('idle-text').textContent = `You have not used the desk for a while. To protect residents' information, ` +
    `you will be signed out in ${mins <= 1 ? 'about a minute' : mins + ' minutes'}. Your status and conversations ` +
    'are kept if you stay.';
  if (!dlg.open) {
    S.idleFocus = document.activeElement;
    dlg.showModal();
    $('idle-stay').focus();
  }
}
function closeIdle() {
  const dlg = $('idle-dlg');
  if (!dlg.open) return;
  dlg.close();
  if (S.idleFocus && S.idleFocus.isConnected) S.idleFocus.focus();
  S.idleFocus = null;
}
async function stayIn() {
  let r = null;
  try {
    r = await fetch('/api/session', { credentials: 'same-origin', cache: 'no-store' });
  } catch { /* said below */ }
  if (r && r.status === 401) { sessionGone(); return; }
  if (!r || !r.ok) {
    $('idle-text').textContent = 'Switchboard could not be reached to keep you signed in. Check your connection and try again.';
    return;
  }
  S.lastActive = Date.now();
  closeIdle();
  say('You are still signed in.');
}

// ---------------------------------------------------------------- connection
function onstate(state, detail) {
  const c = $('conn');
  if (state === 'open') c.textContent = '';
  else if (state === 'connecting') c.textContent = 'Connecting…';
  else if (state === 'waiting') {
    c.textContent = `Connection lost. Trying again in ${detail} s.`;
    // Answers to what was asked on the lost socket never come.
    const w = [...S.waiting.entries()];
    S.waiting.clear();
    for (const [id, h] of w) h({ type: 'error', code: 'offline', message: 'not connected', id });
  }
  else c.textContent = '';
  renderConv();
}

// ---------------------------------------------------------------- status
function renderStatus() {
  renderCapacity();
  const b = $('status-now');
  b.dataset.status = S.status;
  b.textContent = STATUS_TEXT[S.status] || S.status;
  $('status-reason-now').textContent = S.reason ? `(${REASON_TEXT[S.reason] || S.reason})` : '';
  // The selector starts from the status now, unless the advisor is choosing one.
  const sel = $('status-select');
  if (!S.choosing && [...sel.options].some(o => o.value === S.status)) {
    sel.value = S.status;
    $('reason-field').hidden = S.status !== 'away';
  }
}
function wantStatus() {
  try { return JSON.parse(sessionStorage.getItem('sb-desk-status')) || null; } catch { return null; }
}
function setStatus(status, reason, fromAdvisor) {
  // The advisor's own choice wins over the status a new desk would take from the daemon.
  if (fromAdvisor) S.statusFromServer = false;
  const msg = { type: 'desk.status', status };
  if (reason) msg.reason = reason;
  const err = $('status-err');
  err.hidden = true;
  request(msg, m => {
    if (m.type === 'error') {
      err.textContent = `Your status was not changed: ${m.message || m.code}.`;
      err.hidden = false;
      return;
    }
    S.status = status;
    S.reason = reason || '';
    if (m.capacity) S.capacity = m.capacity;
    sessionStorage.setItem('sb-desk-status', JSON.stringify({ status, reason: S.reason }));
    renderStatus();
    if (fromAdvisor) say(`Your status is now ${STATUS_TEXT[status]}.`);
  });
}

// ---------------------------------------------------------------- offers
// An offer shows its queue by name at once; the resident's name, the first message and
// whether it is a left message come from GET /api/conversations/{id}/offer, asked when
// the offer arrives. The offer is announced once: when those details are in, or after
// OFFER_SAY_MS without them (the card works without them too).
const OFFER_SAY_MS = 1000;
const lowerFirst = t => t[0].toLowerCase() + t.slice(1);
function offerTitle(o) {
  const s = o.summary;
  // The summary names the queue too, should the list of queues not be in yet.
  const q = s && s.queue_name && !queues.all().length ? s.queue_name : queueName(o.queue);
  // A missed call: "Call back 07700 900123 (missed call)".
  if (voice.offerTitle(s)) return voice.offerTitle(s);
  return `${s && s.left_message ? 'Left message' : channelName(o.channel) + ' offer'}: ${q}`;
}
function announceOffer(o) {
  clearTimeout(o.sayTimer);
  if (o.announced || S.offers.get(o.conversation) !== o) return;
  o.announced = true;
  const t = offerTitle(o);
  const from = o.summary && o.summary.name ? `, from ${o.summary.name}` : '';
  const secs = Math.max(0, Math.round((o.deadline_ms - Date.now()) / 1000));
  const due = voice.offerDue(o.summary);
  say(`${voice.offerTitle(o.summary) ? t : 'New ' + lowerFirst(t)}${from}${due ? '. ' + due : ''}. ${plural(secs, 'second')} to accept. ` +
      'Alt+Shift+O goes to it; then A accepts.', true);
}
async function offerDetails(o) {
  if (!/^\d+$/.test(o.conversation)) return;
  const r = await api('GET', `/api/conversations/${o.conversation}/offer`);
  if (S.offers.get(o.conversation) !== o) return;
  if (r.status === 200) o.summary = r.body;
  else o.detailsFailed = true;
  renderOffers();
  announceOffer(o);
}
function focusOffer(conv) {
  const box = $('offers').querySelector(`.offer[data-conversation="${CSS.escape(conv)}"]`);
  if (box) box.focus();
}
function addOffer(o) {
  let cur = S.offers.get(o.conversation);
  if (!cur) {
    cur = { ...o };
    S.offers.set(o.conversation, cur);
    cur.sayTimer = setTimeout(() => announceOffer(cur), OFFER_SAY_MS);
    alerts.offer(o.conversation, `New ${lowerFirst(offerTitle(cur))}`);
    offerDetails(cur);
  } else {
    Object.assign(cur, o);
  }
  renderOffers();
}
function dropOffer(conv) {
  const o = S.offers.get(conv);
  if (!o) return null;
  clearTimeout(o.sayTimer);
  alerts.gone(conv);
  S.offers.delete(conv);
  const had = o.node && o.node.contains(document.activeElement);
  renderOffers();
  if (had) {
    const next = $('offers').querySelector('.offer');
    (next || $('offers-h')).focus();
  }
  return o;
}
function accept(conv) {
  const o = S.offers.get(conv);
  if (!o || o.busy) return;
  o.busy = true;
  S.acceptedHere.add(conv);
  renderOffers();
  request({ type: 'offer.accept', conversation: conv }, m => {
    if (m.type === 'error') {
      S.acceptedHere.delete(conv);
      say(m.code === 'not_offered' ? 'That offer has gone: it was taken or timed out.' :
        `The offer could not be accepted: ${m.message || m.code}.`, true);
      dropOffer(conv);
    }
  });
}
function reject(conv) {
  const o = S.offers.get(conv);
  if (!o || o.busy) return;
  o.busy = true;
  renderOffers();
  request({ type: 'offer.reject', conversation: conv }, m => {
    if (m.type === 'offer.rejected' || m.type === 'error') {
      dropOffer(conv);
      say('Offer rejected.');
    }
  });
}
function offerNode(o) {
  const li = el('li');
  const box = el('div', 'offer');
  box.setAttribute('role', 'group');
  box.tabIndex = 0;
  const hid = 'offer-h-' + o.conversation, kid = 'offer-k-' + o.conversation;
  box.setAttribute('aria-labelledby', hid);
  box.setAttribute('aria-describedby', kid);
  box.dataset.conversation = o.conversation;
  const h = el('h3', null, offerTitle(o));
  h.id = hid;
  const details = offerDetailNodes(o);
  const waited = el('p', null, `Waited ${ago(o.waited_ms || 0)} in the queue.`);
  const left = el('p', 'left');
  const bar = el('div', 'bar');
  bar.setAttribute('aria-hidden', 'true');
  const fill = el('span');
  bar.append(fill);
  const keys = el('p', 'hint');
  keys.id = kid;
  keys.append('While this offer has focus, press ', el('kbd', null, 'A'), ' to accept or ',
    el('kbd', null, 'R'), ' to reject.');
  const acc = el('button', 'btn', o.busy ? 'Accepting…' : 'Accept');
  acc.type = 'button';
  acc.disabled = !!o.busy;
  acc.addEventListener('click', () => accept(o.conversation));
  const rej = el('button', 'btn btn-quiet', 'Reject');
  rej.type = 'button';
  rej.disabled = !!o.busy;
  rej.addEventListener('click', () => reject(o.conversation));
  box.addEventListener('keydown', e => {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === 'a' || e.key === 'A') { e.preventDefault(); accept(o.conversation); }
    else if (e.key === 'r' || e.key === 'R') { e.preventDefault(); reject(o.conversation); }
  });
  box.append(h, ...details, waited, left, bar, keys, acc, rej);
  li.append(box);
  o.node = li;
  o.left = left;
  o.fill = fill;
  o.total = o.total || Math.max(1000, o.deadline_ms - Date.now());
  tickOffer(o);
  return li;
}
// Who, and what they wrote first (as text), once GET /api/conversations/{id}/offer answered.
function offerDetailNodes(o) {
  const s = o.summary;
  if (!s) return [el('p', 'hint', o.detailsFailed ? 'The resident\u2019s details could not be loaded.' : 'Loading the details\u2026')];
  const out = [el('p', 'offer-who', s.name ? `From ${s.name}` : s.channel === 'voice' ? 'No name on record.' :
    'The resident gave no name.')];
  if (voice.offerDue(s)) out.push(el('p', 'offer-tag', voice.offerDue(s)));
  if (s.channel === 'voice') out.push(el('p', 'hint', `Queue: ${queueName(o.queue)}`));
  if (s.left_message) out.push(el('p', 'offer-tag', 'Left message: the resident is not in a live chat'));
  if (s.first_message) {
    const p = el('p', 'offer-first');
    p.append(el('span', 'offer-label', s.left_message ? 'Their message: ' : 'First message: '),
      `\u201c${s.first_message}\u201d`);
    out.push(p);
  } else if (!s.left_message && s.channel !== 'voice') out.push(el('p', 'hint', 'No message yet.'));
  return out;
}
function tickOffer(o) {
  const ms = Math.max(0, o.deadline_ms - Date.now());
  const s = Math.ceil(ms / 1000);
  o.left.textContent = ms > 0 ? `${s} second${s === 1 ? '' : 's'} left to accept` : 'Time is up';
  o.left.classList.toggle('soon', s <= 10);
  o.fill.style.width = `${Math.min(100, (ms / o.total) * 100)}%`;
}
function renderOffers() {
  const list = $('offers');
  const active = document.activeElement;
  const focusConv = active && active.closest && active.closest('.offer') ?
    active.closest('.offer').dataset.conversation : null;
  const wasBox = active && active.classList && active.classList.contains('offer');
  list.replaceChildren(...[...S.offers.values()].map(offerNode));
  $('offers-empty').hidden = S.offers.size > 0;
  if (focusConv && S.offers.has(focusConv)) {
    const box = list.querySelector(`.offer[data-conversation="${CSS.escape(focusConv)}"]`);
    if (box) (wasBox ? box : box.querySelector('button:not(:disabled)') || box).focus();
  }
}

// ---------------------------------------------------------------- conversations
function conv(id, fields = {}) {
  let c = S.convs.get(id);
  if (!c) {
    c = { id, queue: '', channel: 'chat', waited_ms: 0, since: Date.now(), messages: new Map(),
      pending: new Map(), advisorRead: 0, residentRead: 0, page: null, customer: null,
      online: null, reference: '', ended: '', gone: '', typing: false, typingTimer: 0, history: false,
      left: false, replyBy: '', acwUntil: 0, touched: 0, subject: '', canReply: true, cannotReply: '',
      fields: null, call: null, callback: null };
    S.convs.set(id, c);
  }
  for (const [k, v] of Object.entries(fields)) if (v != null && v !== '') c[k] = v;
  return c;
}
// A desk that reconnects (or reads the next page) asks only for what came after what it
// holds; the daemon sends what arrives meanwhile after the history, so nothing falls
// between the two (docs/chat-protocol.md). On a reconnect that is the newest message it
// holds less 10 s of the chat (by message time): a message numbered lower may have been
// committed after that one on another instance while the desk was away. What comes twice
// is kept once (by seq).
const RESYNC_MARGIN_MS = 10000;
function resyncAfter(c) {
  let newest = 0, after = 0;
  for (const m of c.messages.values()) if (m.at > newest) newest = m.at;
  for (const m of c.messages.values()) if (m.at && m.at <= newest - RESYNC_MARGIN_MS && m.seq > after) after = m.seq;
  return after;
}
// Every channel's thread: conversation.history (docs/desk-protocol.md); a chat's adds
// the page, whether the resident is there and how far they read.
function askHistory(c, tries = 0, after = 0) {
  // Asked while a question is on its way (a call's facts changed): once more after it.
  if (c.asking) { if (!after) c.askAgain = true; return; }
  c.asking = true;
  const msg = { type: 'conversation.history', conversation: c.id };
  if (after) msg.after = after;
  else if (c.history && resyncAfter(c) > 0) msg.after = resyncAfter(c);
  request(msg, m => {
    c.asking = false;
    if (m.type !== 'error') {
      gotHistory(c, m);
      // Cut short: the next page, after this page's last message (live ones may be newer).
      if (m.more) askHistory(c, 0, Math.max(...(m.messages || []).map(x => x.seq), msg.after || 0));
      else if (c.askAgain) { c.askAgain = false; askHistory(c); }
      return;
    }
    // Just after an acceptance the chat may not be ours in the database yet; a lost
    // connection asks again on reconnect.
    if (m.code !== 'offline' && tries < 20 && S.convs.get(c.id) === c && !c.gone) {
      setTimeout(() => askHistory(c, tries + 1, after), Math.min(5000, 300 * 2 ** tries));
    } else if (S.open === c.id && m.code !== 'offline') {
      $('c-state').textContent = `The messages could not be loaded: ${m.message || m.code}.`;
    }
  });
}
function gotHistory(c, m) {
  c.history = true;
  c.reference = m.reference || c.reference;
  c.page = m.page || c.page;
  c.customer = m.customer || c.customer;
  if (typeof m.online === 'boolean') c.online = m.online;
  c.advisorRead = Math.max(c.advisorRead, m.advisor_read || 0);
  c.residentRead = Math.max(c.residentRead, m.resident_read || 0);
  if (m.ended_by) c.ended = m.ended_by;
  else if (m.status && /closed|ended|wrap_up/.test(m.status)) c.ended = c.ended || 'system';
  // A message left out of hours or when nobody was free: no chat to reply in.
  c.left = !!m.left_message;
  c.replyBy = m.reply_by || '';
  c.channel = m.channel || c.channel;
  c.subject = m.subject || '';
  c.canReply = !!m.can_reply;
  c.cannotReply = m.cannot_reply || '';
  // Email: where a reply goes ({ address, subject, reply_to_ignored }) or why none can.
  c.email = m.email || null;
  // SMS: where a text goes ({ phone, sender, max_length }) or why none can ({ why }).
  c.sms = m.sms || null;
  // A call: its facts ({direction, caller, state, answered_by, duration_s, recording_url...})
  // and a missed call's latest callback attempt ({attempt, status, outcome, due_at}).
  if (m.call) c.call = m.call;
  if (m.callback) c.callback = m.callback;
  for (const x of m.messages || []) {
    c.messages.set(x.seq, x);
    takeFields(c, x);
  }
  // Unsent replies go again with the same client_id (the daemon keeps one copy).
  for (const [cid, p] of c.pending) if (p.state !== 'sent') sendPending(c, cid);
  changed(c);
}
// A web form's answers: metadata.fields of the resident's first message, a list of
// { label (or name), value } in the form's order, or an object of name: value.
function takeFields(c, x) {
  const f = x && x.from === 'resident' && x.metadata && x.metadata.fields;
  if (!f || (c.fields && c.fieldsSeq < x.seq)) return;
  const rows = Array.isArray(f)
    ? f.filter(r => r && typeof r === 'object').map(r => [String(r.label ?? r.name ?? ''), r.value])
    : typeof f === 'object' ? Object.entries(f) : [];
  c.fields = rows.map(([k, v]) => [k, v == null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)]);
  c.fieldsSeq = x.seq;
}
function residentName(c) {
  // A text's resident with no name on record: their number, as they know it.
  const cu = c.customer || {};
  if (cu.name) return cu.name;
  if (c.channel === 'voice') return c.call && c.call.withheld ? 'Withheld number' : phoneText((c.call && c.call.caller) || cu.mobile) || 'Caller';
  return c.channel === 'sms' && cu.mobile ? phoneText(cu.mobile) : 'Resident';
}
function unread(c) {
  let n = 0;
  for (const m of c.messages.values()) if (m.from === 'resident' && m.seq > c.advisorRead) n++;
  return n;
}
function lastMessage(c) {
  let last = null;
  for (const m of c.messages.values()) if (!last || m.seq > last.seq) last = m;
  return last;
}
function waitingText(c) {
  if (c.left) return 'a message left for the council';
  if (c.channel === 'voice' && c.callback && c.callback.status === 'queued' && c.callback.due_at) {
    return `call back by ${voice.dueText(c.callback.due_at)}`;
  }
  if (c.channel === 'voice' && c.call && c.call.state === 'answered' && !c.ended) return 'on the call now';
  if (c.ended) return c.channel === 'chat' ? 'chat ended' : 'ended';
  const last = lastMessage(c);
  if (last && last.from === 'resident' && last.at) {
    const at = typeof last.at === 'number' ? last.at : Date.parse(last.at);
    if (!isNaN(at)) return `waiting for a reply for ${ago(Date.now() - at)}`;
  }
  if (last && last.from === 'advisor') return 'answered';
  return `waited ${ago(c.waited_ms)} in the queue`;
}
function changed(c) {
  renderInbox();
  if (S.open === c.id) {
    renderConv();
    markRead(c);
  }
}
// "Web chat: 1 of 3" per channel the advisor may take: capacity from the daemon (desk.status,
// desk.conversations), load from the conversations on this desk.
function renderCapacity() {
  const caps = S.capacity || {};
  const chans = Object.keys(caps);
  $('capacity').hidden = chans.length === 0;
  const load = {};
  // An ended chat holds capacity only during its queue's wrap-up time (acwUntil).
  for (const c of S.convs.values()) {
    if (!c.gone && (!c.ended || c.acwUntil > Date.now())) load[c.channel] = (load[c.channel] || 0) + 1;
  }
  $('capacity-list').replaceChildren(...chans.map(ch => {
    const li = el('li', (load[ch] || 0) >= caps[ch] ? 'full' : '', `${channelName(ch)}: ${load[ch] || 0} of ${caps[ch]}`);
    return li;
  }));
}

// "Web chat, Council Tax"; the channel alone when the desk was not told the queue (a call
// answered on the phone comes with none).
const channelQueue = c => (c.queue ? `${channelName(c.channel)}, ${queueName(c.queue)}` : channelName(c.channel));
function renderInbox() {
  renderCapacity();
  const list = $('inbox');
  const active = document.activeElement;
  const focusId = active && active.dataset ? active.dataset.inbox : null;
  const items = [...S.convs.values()].filter(c => !c.gone);
  list.replaceChildren(...items.map(c => {
    const li = el('li');
    const b = el('button');
    b.type = 'button';
    b.dataset.inbox = c.id;
    if (S.open === c.id) b.setAttribute('aria-current', 'true');
    const n = unread(c);
    const title = el('span', 't', `${c.customer ? residentName(c) : 'Conversation ' + c.id}` +
      (c.reference ? ` (${c.reference})` : ''));
    const detail = el('span', 'd', `${channelQueue(c)}, ${waitingText(c)}`);
    b.append(title, detail);
    if (n > 0) {
      const u = el('span', 'unread', `${n} unread`);
      b.append(u);
    }
    // Ended, not wrapped up yet: it stays here until it is (docs/desk.md).
    if (c.ended && !c.gone) b.append(el('span', 'ended', c.left ? 'Left message – wrap up' : 'Ended – wrap up'));
    else if (c.left && !c.gone) b.append(el('span', 'ended', 'Left message'));
    b.addEventListener('click', () => openConv(c.id, true));
    li.append(b);
    return li;
  }));
  $('inbox-empty').hidden = items.length > 0;
  if (focusId) {
    const b = list.querySelector(`button[data-inbox="${CSS.escape(focusId)}"]`);
    if (b) b.focus();
  }
}
function openConv(id, focus) {
  const prev = S.open;
  S.open = id;
  if (prev && prev !== id) {
    const p = S.convs.get(prev);
    stopTyping(p);
    if (p) p.draft = $('composer').value;
    if (p && p.gone) S.convs.delete(prev);
  }
  const c = S.convs.get(id);
  if (c && !c.history) askHistory(c);
  if (prev !== id) {
    picker.hide(false);
    // A warning was about the other conversation's draft.
    S.leftoverOk = null;
    composerWarning('');
  }
  // A queue with wrap-up codes gets no plain close (docs/desk.md).
  if (c && c.hasCodes == null) {
    wrap.hasCodes(c.queue).then(h => {
      c.hasCodes = h;
      if (S.open === c.id) renderConv();
    });
  }
  // Each conversation keeps its unsent draft.
  if (prev !== id) $('composer').value = (c && c.draft) || '';
  renderInbox();
  renderConv(prev !== id);
  if (c) markRead(c);
  if (focus) $('conv-h').focus();
}
function msgNode(c, m, pending) {
  const li = el('li', 'msg ' + (m.from === 'resident' ? 'resident' : m.from === 'advisor' ? 'advisor' :
    m.from === 'note' ? 'note' : 'system'));
  const who = m.from === 'resident' ? residentName(c) : m.from === 'advisor' ? (m.name || 'Advisor') :
    m.from === 'note' ? `Internal note${m.name ? ' by ' + m.name : ''}` :
      m.metadata && m.metadata.voice ? 'Phone system' : 'Switchboard';
  li.append(el('span', 'who', who));
  // The form's message: its answers are the table above, not read out twice (its text is
  // the title, then a "label: value" line each).
  const form = c.fields && c.fieldsSeq === m.seq;
  li.append(el('span', 'txt', form ? `${String(m.text || '').split('\n')[0] || 'Form sent'} (the answers are in the table above)` :
    m.text));
  // An email's attachments: each a download (GET /api/messages/{seq}/attachments/{n}), or
  // said to be over the size kept (the original mail is kept whole).
  const att = m.metadata && Array.isArray(m.metadata.attachments) ? m.metadata.attachments : [];
  if (att.length && m.seq) {
    const box = el('span', 'att', `${plural(att.length, 'attachment')}: `);
    att.forEach((a, i) => {
      const name = a.filename || a.name || 'unnamed';
      const what = `${a.content_type || 'file'}${a.size >= 0 ? `, ${kb(a.size)}` : ''}`;
      if (i) box.append('; ');
      if (a.over_cap) {
        box.append(`${name} (${what}: too large to keep; the original email is kept whole)`);
      } else {
        const link = el('a', '', name);
        link.href = `/api/messages/${m.seq}/attachments/${i + 1}`;
        link.download = name;
        box.append(link, ` (${what})`);
      }
    });
    li.append(box);
  }
  const problems = m.metadata && m.metadata.email && m.metadata.email.problems;
  if (problems) li.append(el('span', 'att', 'Part of this email could not be read; its original is kept.'));
  let meta = m.at ? clock(m.at) : '';
  if (pending) {
    const st = pending.state === 'failed' ? `Not sent: ${pending.error}` :
      sock.open ? 'Sending…' : 'Not sent yet: it will be sent when the connection is back';
    meta = st;
    if (pending.state === 'failed') li.classList.add('failed');
  } else if (m.from === 'resident' && m.acknowledgement) {
    // The automatic acknowledgement the resident was sent (an email's).
    const a = m.acknowledgement;
    meta += ' · ' + (a.status === 'sent' ? 'Acknowledged by email' :
      a.status === 'failed' || a.status === 'dead' ? `Acknowledgement not sent: ${a.error || 'refused'}` :
        'Acknowledgement queued');
  } else if (m.from === 'advisor' && byMail(c)) {
    const d = m.delivery;
    meta += ' · ' + deliveryText(d);
    if (d && (d.status === 'failed' || d.status === 'dead' || d.bounced)) li.classList.add('failed');
  } else if (m.from === 'advisor' && byText(c)) {
    const d = m.delivery;
    meta += ' · ' + textDeliveryText(d);
    if (textFailed(d)) li.classList.add('failed');
  } else if (m.from === 'advisor') {
    meta += m.seq <= c.residentRead ? ' · Read' : ' · Sent';
  }
  li.append(el('span', 'meta', meta));
  return li;
}
const kb = n => (n < 1024 ? `${n} bytes` : n < 1048576 ? `${Math.round(n / 1024)} KB` :
  `${(n / 1048576).toFixed(1)} MB`);
// Whether the conversation's replies go by email: an email's, or a message left with
// the chat asking for a reply by email.
const byMail = c => c.channel === 'email' || (c.left && c.replyBy === 'email');
// Where an emailed reply goes (history's "email": address, subject), or null.
const mailTarget = c => (byMail(c) && c.canReply && c.email && c.email.address ? c.email : null);
// An outbound email's state (history's "delivery", conversation.delivery events).
function deliveryText(d) {
  if (!d) return 'Queued to send by email';
  const to = d.to ? ` to ${d.to}` : '';
  if (d.bounced) return `Bounced${to}: ${d.bounce_reason || 'the mail server returned it'}`;
  if (d.status === 'sent') return `Sent by email${to}`;
  if (d.status === 'failed' || d.status === 'dead') return `Not sent${to}: ${d.error || 'refused'}`;
  return d.error ? `Not sent yet${to}, trying again (${d.error})` : `Queued to send by email${to}`;
}
// Whether the conversation's replies go by text: an SMS conversation's, or a message
// left with the chat asking for a reply by text.
const byText = c => c.channel === 'sms' || (c.left && c.replyBy === 'sms');
// Where a texted reply goes (history's "sms": phone, max_length), or null; not when the
// resident cannot be texted (sms.why: opted out, number withheld).
const textTarget = c => (byText(c) && c.canReply && c.sms && c.sms.phone && !c.sms.why ? c.sms : null);
// Why a reply cannot be texted ('' when it can, or when it does not go by text).
const noTextWhy = c => (byText(c) && c.sms && c.sms.why) || '';
// A text's length as the daemon counts it (characters, not bytes or UTF-16 units), of
// what is sent: the composer's text trimmed.
const textLength = v => [...v.replace(/^\s+|\s+$/g, '')].length;
// The provider's receipt only moves forwards (a late event never takes a text back).
const RECEIPT_RANK = { queued: 1, sending: 2, sent: 3, delivered: 4, read: 5, failed: 4 };
// A texted reply's state (history's "delivery" with the provider's receipt, and
// conversation.delivery events): queued, sent, delivered, not delivered, not sent.
function textDeliveryText(d) {
  if (!d) return 'Queued to send by text';
  const to = d.to ? ` to ${phoneText(d.to)}` : '';
  if (d.status === 'failed' || d.status === 'dead') return `Not sent${to}: ${d.error || 'refused'}`;
  if (d.receipt === 'failed') return `Not delivered${to}: ${d.receipt_detail || 'the phone network could not deliver it'}`;
  if (d.receipt === 'read') return `Delivered${to} and read`;
  if (d.receipt === 'delivered') return `Delivered${to}`;
  if (d.status === 'sent') return `Sent by text${to}, not yet delivered`;
  return d.error ? `Not sent yet${to}, trying again (${d.error})` : `Queued to send by text${to}`;
}
const textFailed = d => !!d && (d.status === 'failed' || d.status === 'dead' || d.receipt === 'failed');
// How the contact details matched customers (conversation.history customer.match).
const MATCH_TEXT = { matched: 'details match an existing record', new: 'new customer',
  ambiguous: 'several records match \u2014 check', none: 'no email or mobile given' };
// The resident's typing shows only while the chat is live and on this desk.
const typingText = c => (c.typing && !c.ended && !c.gone ? `${residentName(c)} is typing\u2026` : '');
function renderConv(fresh) {
  const c = S.open ? S.convs.get(S.open) : null;
  record.show(c && { id: c.id, reference: c.reference, channel: c.channel, customer: c.customer });
  $('conv-none').hidden = !!c;
  $('conv-body').hidden = !c;
  if (!c) {
    $('conv-h').textContent = 'No conversation open';
    wrap.follow(null);
    return;
  }
  $('conv-h').textContent = `${channelName(c.channel)} with ${c.customer ? residentName(c) : 'a resident'}`;
  $('c-ref').textContent = c.reference || '–';
  $('c-channel').textContent = channelQueue(c);
  $('c-subject-row').hidden = !c.subject;
  $('c-subject').textContent = c.subject || '';
  const isChat = c.channel === 'chat';
  // Where the resident is and whether their window is open: a chat's facts only.
  $('c-page-row').hidden = !isChat;
  $('c-presence-row').hidden = !isChat;
  renderFields(c);
  const cu = c.customer || {};
  $('c-customer').textContent = cu.name ? `${cu.name}${MATCH_TEXT[cu.match] ? ' (' + MATCH_TEXT[cu.match] + ')' : ''}` : 'Not given';
  $('c-contact').textContent = [cu.email, cu.mobile && phoneText(cu.mobile)].filter(Boolean).join(', ') || 'Not given';
  const pg = $('c-page');
  pg.replaceChildren();
  if (c.page && (c.page.url || c.page.title)) {
    pg.append(el('span', 'pt', c.page.title || '(no title)'), el('br'),
      el('span', 'pu', c.page.url || ''));
  } else pg.textContent = 'Not known';
  $('c-presence').textContent = c.online == null ? 'Not known' :
    c.online ? 'The resident has the chat open' : 'The resident has left the chat window (they may come back)';
  const state = [!c.history && !c.gone ? 'Loading the messages…' : '',
    c.left ? 'This is a message left for the council' + (c.replyBy ? ` (the resident asked for a reply by ${c.replyBy === 'sms' ? 'text message' : 'email'})` : '') + '.' : '',
    c.ended && !c.left ? (isChat ? `The chat has ended (ended by the ${c.ended}).` : 'This conversation has ended.') : '',
    c.ended && !c.gone ? 'Wrap it up to record why the resident got in touch and how it ended.' : '',
    c.gone ? `This conversation has left your list (${c.gone}).` : ''].filter(Boolean).join(' ');
  $('c-state').textContent = state;
  voice.render(c);

  const thread = $('thread');
  const nearEnd = fresh || thread.scrollHeight - thread.scrollTop - thread.clientHeight < 60;
  const items = [...c.messages.values()].sort((a, b) => a.seq - b.seq).map(m => msgNode(c, m, null));
  for (const p of c.pending.values()) {
    if (p.state !== 'sent') items.push(msgNode(c, { from: 'advisor', name: S.me && S.me.name, text: p.text }, p));
  }
  thread.replaceChildren(...items);
  if (nearEnd) thread.scrollTop = thread.scrollHeight;
  $('c-typing').textContent = typingText(c);

  const closed = !!(c.ended || c.gone);
  // The composer by channel: chat's, or the core's for a channel that delivers replies;
  // for one that cannot, why not instead of a send button (notes still work below). A
  // left message (a chat's, say) shows the chat composer disabled with why.
  const noMail = byMail(c) && c.email && c.email.why;
  // A text that cannot be sent (opted out, withheld): the composer shows, disabled, with why.
  const noText = noTextWhy(c);
  const canSend = isChat || (c.canReply && !noMail);
  // A left message that cannot be answered the way its resident asked.
  const leftNo = c.left && (!c.canReply || !!noMail);
  const off = leftNo || !!noText;
  $('composer-chat').hidden = !canSend || closed;
  $('composer-other').hidden = canSend || closed;
  $('composer-other').textContent = canSend || closed ? '' : c.channel === 'voice' ?
    'This is a phone call: add a note for the record below. Replies are not sent from here; ' +
    'speak to the resident on the phone.' :
    `A reply cannot be sent on this ${channelName(c.channel).toLowerCase()} conversation: ` +
    `${noMail || c.cannotReply || 'this channel cannot send replies yet'}. ` +
    'Add an internal note below, and contact the resident another way if they need an answer.';
  // Email and text: say where the reply goes before it is sent (or why a text cannot be).
  const to = mailTarget(c);
  const sms = textTarget(c);
  $('composer-label').textContent = to ? 'Your email reply' : sms || noText ? 'Your text message reply' : 'Your reply';
  $('composer-to').hidden = !to && !sms && !noText;
  $('composer-to').textContent = to ?
    `It is sent by email to ${to.address}, subject “${to.subject || ''}”.` +
    (to.reply_to_ignored ? ` The resident’s email asked for replies to ${to.reply_to_ignored}: ` +
      'Switchboard answers the address it came from.' : '') :
    sms ? `Replies go by text to ${phoneText(sms.phone)}` +
      (sms.max_length ? `, at most ${sms.max_length} characters each.` : '.') :
      noText ? `A reply cannot be sent by text: ${noText}.` : '';
  $('composer-to').classList.toggle('why', !!noText);
  // A left message has no chat to reply in: the composer takes nothing there (the
  // daemon refuses conversation.reply: cannot_reply). Other channels: canSend above.
  $('composer').disabled = off;
  $('send-btn').disabled = off;
  $('canned-btn').disabled = off;
  $('composer-hint').textContent = noText ? 'Add an internal note below, and contact the resident another way ' +
    'if they need an answer.' : !leftNo ? (to ? EMAIL_HINT : COMPOSER_HINT) : noMail ?
      `A reply cannot be sent by email: ${noMail}. Add a note and wrap it up; reply to the resident another way ` +
      'if they need an answer.' : `${LEFT_HINT}${c.cannotReply ? ` (${c.cannotReply})` : ''}.`;
  $('composer').rows = to ? 8 : 3;
  if (S.count.conv !== c.id) S.count = { conv: c.id, level: 'ok' };
  countText(false);
  if (!$('composer-err').textContent) composerDescribed();
  // A call ends on the phone, not here.
  $('end-btn').hidden = c.left || c.channel === 'voice';
  $('end-btn').textContent = isChat ? 'End chat' : 'End conversation';
  $('end-btn').disabled = closed;
  $('close-btn').disabled = !!c.gone;
  $('close-btn').hidden = c.hasCodes === true;
  // Released (the chat ended, say) it may still be wrapped up; moved on, not.
  $('wrap-btn').disabled = !!c.gone && c.gone !== 'released';
  wrap.follow(c);
  $('transfer').hidden = !!c.gone;
  $('note-box').hidden = !!c.gone;
  // A call has notes only: the note form is open when the call's conversation opens.
  if (fresh && c.channel === 'voice' && !c.gone) $('note-box').open = true;
}
// The form's answers as a table above the thread (caption, column and row headers).
function renderFields(c) {
  const rows = c.fields || [];
  $('c-fields-box').hidden = rows.length === 0;
  $('c-fields-cap').textContent = c.subject ? `Answers on the form: ${c.subject}` : 'Answers on the form';
  $('c-fields-body').replaceChildren(...rows.map(([k, v]) => {
    const tr = el('tr');
    const th = el('th', '', k || '(no question)');
    th.scope = 'row';
    tr.append(th, el('td', '', v || '(left empty)'));
    return tr;
  }));
}
function markRead(c) {
  if (!c || S.open !== c.id || document.visibilityState !== 'visible' || !sock.open || c.gone) return;
  let newest = 0;
  for (const m of c.messages.values()) if (m.from === 'resident' && m.seq > newest) newest = m.seq;
  if (newest > c.advisorRead) {
    c.advisorRead = newest;
    request({ type: 'conversation.read', conversation: c.id, seq: newest });
    renderInbox();
  }
}

// ---------------------------------------------------------------- composer
const COMPOSER_HINT = 'Enter sends. Shift and Enter starts a new line. Type / and a shortcut (for example /hello) for a canned response.';
const EMAIL_HINT = 'Enter starts a new line. Ctrl and Enter sends, as does the Send button. Type / and a shortcut (for example /hello) for a canned response.';
const LEFT_HINT = 'A reply cannot be sent yet: this message was left for the council, and it cannot be answered the way the resident asked. Add a note and wrap it up; reply to the resident another way if they need an answer';
function sendPending(c, cid) {
  const p = c.pending.get(cid);
  p.state = 'sending';
  const chat = c.channel === 'chat';
  request({ type: 'conversation.reply', conversation: c.id, client_id: cid, text: p.text }, m => {
    if (m.type === 'conversation.replied') {
      p.state = 'sent';
      c.pending.delete(cid);
      if (!c.messages.has(m.seq)) {
        c.messages.set(m.seq, { seq: m.seq, from: 'advisor', name: S.me && S.me.name, text: p.text, at: m.at, client_id: cid });
      }
      changed(c);
    } else if (m.type === 'error' && m.code !== 'offline' && m.code !== 'unavailable' && m.code !== 'rate_limited') {
      p.state = 'failed';
      p.error = m.code === 'forbidden' ? `this ${chat ? 'chat' : 'conversation'} is no longer yours` :
        m.code === 'cannot_reply' ? (chat ? 'a reply cannot be sent to a left message yet' : m.message || 'this channel cannot send replies') :
        (m.message || m.code);
      changed(c);
    } else {
      p.state = 'queued';
      changed(c);
    }
  });
}
// ---------------------------------------------------------------- canned responses
// The open conversation's queue and the values of the placeholders (canned.js).
function cannedContext() {
  const c = S.open ? S.convs.get(S.open) : null;
  if (!c) return null;
  const name = (c.customer && c.customer.name) || '';
  const me = (S.me && S.me.name) || '';
  return { queue: c.queue, values: {
    'resident.name': name, 'resident.first_name': firstName(name),
    'advisor.name': me, 'advisor.first_name': firstName(me),
    reference: c.reference, 'queue.name': picker.queueName(c.queue), 'council.name': picker.council()
  } };
}
// A warning about the reply, in text tied to the composer ('' clears it).
function composerWarning(text) {
  const box = $('composer'), e = $('composer-err');
  e.textContent = text;
  e.hidden = !text;
  if (text) box.setAttribute('aria-invalid', 'true');
  else box.removeAttribute('aria-invalid');
  composerDescribed();
}
// The composer is described by its error, where the reply goes, the hint and a text's count.
function composerDescribed() {
  const ids = ['composer-err', 'composer-to', 'composer-hint', 'composer-count'].filter(id => !$(id).hidden);
  $('composer').setAttribute('aria-describedby', ids.join(' '));
}
// A text's character count against the sender's limit, shown as the advisor types; said
// (politely) only when it crosses a threshold: 20 left, over the limit, back within it.
const COUNT_NEAR = 20;
function countText(announce) {
  const c = S.open ? S.convs.get(S.open) : null;
  const t = c && textTarget(c);
  const max = t && t.max_length;
  const box = $('composer-count');
  const was = box.hidden;
  box.hidden = !max;
  if (was !== box.hidden) composerDescribed();
  if (!max) { box.textContent = ''; return; }
  const n = textLength($('composer').value), left = max - n;
  const level = left < 0 ? 'over' : left <= COUNT_NEAR ? 'near' : 'ok';
  box.textContent = left < 0 ? `${n} of ${max} characters: ${-left} too many. Shorten it to send it.` :
    `${n} of ${max} characters` + (level === 'near' ? `: ${left} left` : '');
  box.classList.toggle('over', left < 0);
  const prev = S.count.level;
  S.count.level = level;
  if (!announce || prev === level) return;
  if (level === 'over') say(`Over the limit for a text: ${n} of ${max} characters. It will not be sent until it is shorter.`);
  else if (level === 'near' && prev === 'ok') say(`${left} characters left in this text.`);
  else if (prev === 'over') say(`The text is within the limit again: ${n} of ${max} characters.`);
}
// The filled-in text goes where the cursor is (or replaces the /shortcut typed).
function insertReply(text, result, slash) {
  const box = $('composer');
  let at;
  if (slash && /^\/\S*$/.test(box.value)) {
    box.value = text;
    at = text.length;
  } else {
    const a = box.selectionStart ?? box.value.length, b = box.selectionEnd ?? a;
    box.value = box.value.slice(0, a) + text + box.value.slice(b);
    at = a + text.length;
  }
  box.focus();
  box.setSelectionRange(at, at);
  S.leftoverOk = null;
  composerWarning(warning(result.missing, result.unknown));
  countText(true);
  typing();
}
// Typing / at the start of the composer: the picker, narrowed by what follows.
function composerSlash() {
  const v = $('composer').value;
  const m = /^\/([\w-]*)$/.exec(v);
  if (m && (picker.root.hidden || picker.slash)) picker.open(m[1], false);
  else if (!m && picker.slash) picker.hide(false);
  if ($('composer-err').textContent && !leftovers(v).length) composerWarning('');
}
function composerKey(e) {
  if (!picker.slash || picker.root.hidden) return false;
  if (e.key === 'ArrowDown') {
    const b = picker.buttons()[0];
    if (b) { e.preventDefault(); b.focus(); }
    return true;
  }
  if (e.key === 'Escape') { e.preventDefault(); picker.hide(false); return true; }
  if (e.key === 'Enter' && !e.shiftKey) {
    e.preventDefault();
    const r = picker.best($('composer').value.slice(1));
    if (r) picker.choose(r);
    else say(`No canned response matches ${$('composer').value}.`);
    return true;
  }
  return false;
}
// Which conversations wait for this advisor's wrap-up (conversation.wrap_ups, from PostgreSQL:
// status wrap_up, theirs). They are kept or brought back, marked ended; those of ids
// that are not, and that no routing event touched since the question, leave the list.
function checkWrapups(ids) {
  const gen = S.gen;
  const drop = listed => {
    for (const id of ids) {
      const cv = S.convs.get(id);
      if (!cv || listed.has(id) || cv.touched > gen || (listed.unknown && cv.ended)) continue;
      if (S.open === id) cv.gone = 'it left your desk while you were disconnected';
      else S.convs.delete(id);
    }
    renderInbox();
    renderConv();
  };
  request({ type: 'conversation.wrap_ups' }, m => {
    if (m.type !== 'conversation.wrap_ups') {
      // Not known now: ended ones are kept, the rest leave as before.
      const none = new Set();
      none.unknown = true;
      drop(none);
      return;
    }
    const listed = new Set();
    for (const x of m.conversations || []) {
      const id = String(x.conversation);
      listed.add(id);
      dropOffer(id);
      const cv = conv(id, { queue: x.queue, channel: x.channel, reference: x.reference });
      cv.ended = cv.ended || x.ended_by || 'system';
      cv.left = cv.left || !!x.left_message;
      cv.gone = '';
      if (!cv.customer && x.name) cv.customer = { name: x.name };
      if (!cv.history) askHistory(cv);
    }
    drop(listed);
  });
}
// Wrapped up: the conversation is closed and leaves the list.
function wrappedUp(c) {
  stopTyping(c);
  S.convs.delete(c.id);
  if (S.open === c.id) S.open = null;
  renderInbox();
  renderConv();
  say('Wrapped up. The conversation is closed and has left your list.');
  $('conv-h').focus();
}

function sendReply(ev) {
  if (ev) ev.preventDefault();
  const c = S.convs.get(S.open);
  const box = $('composer');
  const text = box.value.replace(/^\s+|\s+$/g, '');
  if (!c || !text || c.ended || c.gone || (c.left && !mailTarget(c) && !textTarget(c)) || noTextWhy(c)) return;
  // A text over its sender's limit is not sent (the daemon would refuse it for good).
  const t = textTarget(c);
  if (t && t.max_length && textLength(text) > t.max_length) {
    const w = `Your text is ${textLength(text)} characters: a text can be at most ${t.max_length}. ` +
      'Shorten it, then send it.';
    composerWarning(w);
    say(w);
    box.focus();
    return;
  }
  // A {placeholder} left in the reply is never sent without a warning first.
  const left = leftovers(text);
  if (left.length && S.leftoverOk !== text) {
    S.leftoverOk = text;
    const w = `Your reply still contains ${left.join(', ')}. Replace ${left.length > 1 ? 'them' : 'it'} with the right words, or press Send again to send it as it is.`;
    composerWarning(w);
    say(w);
    box.focus();
    return;
  }
  S.leftoverOk = null;
  composerWarning('');
  const cid = uuid();
  c.pending.set(cid, { text, state: 'queued' });
  box.value = '';
  countText(false);
  stopTyping(c);
  if (sock.open) sendPending(c, cid);
  changed(c);
  const thread = $('thread');
  thread.scrollTop = thread.scrollHeight;
}
function typing() {
  const c = S.convs.get(S.open);
  if (!c || c.channel !== 'chat' || !sock.open || c.ended || c.gone) return;
  const now = Date.now();
  if ($('composer').value && now - S.typingSentAt >= 3000) {
    S.typingSentAt = now;
    S.typingOn = true;
    request({ type: 'conversation.typing', conversation: c.id, state: true });
  }
  clearTimeout(S.typingIdle);
  S.typingIdle = setTimeout(() => stopTyping(c), 4000);
}
function stopTyping(c) {
  clearTimeout(S.typingIdle);
  if (S.typingOn && c && sock.open && !c.gone) request({ type: 'conversation.typing', conversation: c.id, state: false });
  S.typingOn = false;
  S.typingSentAt = 0;
}

// ---------------------------------------------------------------- actions
function endChat() {
  const c = S.convs.get(S.open);
  if (!c) return;
  stopTyping(c);
  const chat = c.channel === 'chat';
  request({ type: 'conversation.end', conversation: c.id }, m => {
    if (m.type === 'error') { say(`The ${chat ? 'chat' : 'conversation'} could not be ended: ${m.message || m.code}.`); return; }
    c.ended = c.ended || 'advisor';
    c.typing = false;
    c.endSaid = true;
    say(chat ? 'Chat ended.' : 'Conversation ended. Wrap it up when you are ready.');
    changed(c);
  });
}
function release(why) {
  const c = S.convs.get(S.open);
  if (!c) return;
  stopTyping(c);
  request({ type: 'conversation.release', conversation: c.id, why }, m => {
    if (m.type === 'error') { say(`The conversation was not released: ${m.message || m.code}.`); return; }
    say(why === 'wrapped' ? 'Conversation released for wrap-up.' : 'Conversation closed.');
    // Closed: it leaves the list (one waiting for wrap-up has no routing event to say so).
    if (why === 'closed' && S.convs.get(c.id) === c) {
      stopTyping(c);
      if (S.open === c.id) c.gone = 'closed';
      else S.convs.delete(c.id);
      renderInbox();
      renderConv();
    }
  });
}
// The advisors of the open conversation's queue, for a transfer to one of them by name
// (GET /api/queues/{id}/advisors), asked when the transfer form opens.
async function loadAdvisors() {
  const c = S.convs.get(S.open);
  const sel = $('t-advisor');
  const keep = sel.value;
  sel.replaceChildren(el('option', '', 'Anyone in the queue'));
  sel.firstChild.value = '';
  fillTransferQueues(c);
  if (!c || !/^\d+$/.test(String(c.queue || ''))) return;
  const r = await api('GET', `/api/queues/${c.queue}/advisors`);
  if (r.status === 401) { sessionGone(); return; }
  if (r.status !== 200) {
    fieldError(sel, 't-advisor-err', 'The list of advisors could not be loaded; you can still transfer to a queue.');
    return;
  }
  fieldError(sel, 't-advisor-err', '');
  for (const a of r.body.advisors || []) {
    if (S.me && String(a.id) === String(S.me.staff)) continue;
    const o = el('option', '', a.name);
    o.value = String(a.id);
    sel.append(o);
  }
  sel.value = [...sel.options].some(o => o.value === keep) ? keep : '';
}

function transfer(ev) {
  ev.preventDefault();
  const c = S.convs.get(S.open);
  const q = $('t-queue');
  const sel = $('t-advisor');
  const note = $('t-note').value.trim();
  const queue = q.value.trim();
  const advisor = sel.value;
  const who = advisor ? sel.options[sel.selectedIndex].textContent : '';
  fieldError(sel, 't-advisor-err', '');
  fieldError(q, 't-queue-err', queue || advisor ? ''
    : 'Choose a queue or an advisor');
  if (queue && advisor) {
    fieldError(sel, 't-advisor-err', 'Choose a queue or an advisor, not both');
    sel.focus();
    return;
  }
  if (!c || (!queue && !advisor)) { q.focus(); return; }
  stopTyping(c);
  const msg = { type: 'conversation.transfer', conversation: c.id };
  if (queue) msg.queue = queue;
  if (advisor) msg.advisor = advisor;
  if (note) msg.note = note;
  request(msg, m => {
    if (m.type === 'error') {
      const bad = advisor ? sel : q;
      fieldError(bad, advisor ? 't-advisor-err' : 't-queue-err',
        m.code === 'not_found' ? (advisor ? `${who} cannot take it` : `${queueName(queue)} cannot take it`) :
        `The transfer failed: ${m.message || m.code}`);
      bad.focus();
      return;
    }
    q.value = '';
    sel.value = '';
    $('t-note').value = '';
    $('transfer').open = false;
    say((advisor ? `Transferred to ${who}.` : `Transferred to ${queueName(queue)}.`) +
      (m.note_saved === false ? ' The note could not be saved.' : ''));
  });
}

// An internal note (conversation.note, any channel): shown to staff in
// the thread, never to the resident.
function addNote(ev) {
  ev.preventDefault();
  const c = S.convs.get(S.open);
  const t = $('n-text');
  const text = t.value.trim();
  fieldError(t, 'n-text-err', text ? '' : 'Write the note first');
  if (!c || !text) { t.focus(); return; }
  request({ type: 'conversation.note', conversation: c.id, client_id: uuid(), text }, m => {
    if (m.type === 'error') {
      fieldError(t, 'n-text-err', `The note was not saved: ${m.message || m.code}`);
      t.focus();
      return;
    }
    t.value = '';
    $('note-box').open = false;
    say('Note added.');
  });
}

// ---------------------------------------------------------------- queue names (queues.js)
// The watch list: the queues the advisor serves (supervisors and admins: every active one).
function fillQueueSelects() {
  const sel = $('q-name');
  const keep = sel.value;
  const all = S.role === 'supervisor' || S.role === 'admin';
  fillSelect(sel, 'Choose a queue', queues.all().filter(q => q.active && (all || q.serves)), keep);
}
// Transfer targets: the active queues that take the conversation's channel.
function fillTransferQueues(c) {
  const sel = $('t-queue');
  fillSelect(sel, 'No queue', queues.all().filter(q => q.active &&
    (!c || !Array.isArray(q.channels) || q.channels.includes(c.channel))), sel.value);
}
function fillSelect(sel, none, list, keep) {
  const first = el('option', '', none);
  first.value = '';
  sel.replaceChildren(first, ...list.map(q => {
    const o = el('option', '', q.name);
    o.value = String(q.id);
    return o;
  }));
  sel.value = list.some(q => String(q.id) === keep) ? keep : '';
}
async function loadQueues() {
  if (!(await queues.load()) || $('desk').hidden) return;
  fillQueueSelects();
  renderOffers();
  renderInbox();
  renderConv();
  renderQueues();
}

// ---------------------------------------------------------------- queues (queue.view, pick)
function watchQueue(ev) {
  ev.preventDefault();
  const q = $('q-name');
  const name = q.value;
  fieldError(q, 'q-name-err', name ? '' : 'Choose a queue');
  if (!name) { q.focus(); return; }
  request({ type: 'queue.view', queue: name }, m => {
    if (m.type === 'error') {
      fieldError(q, 'q-name-err', m.code === 'not_found' || m.code === 'bad_message' ? `${queueName(name)} cannot be watched` :
        m.code === 'forbidden' ? `You do not serve ${queueName(name)}` : `The queue cannot be shown: ${m.message || m.code}`);
      q.focus();
      return;
    }
    q.value = '';
    gotQueue(m);
    say(`Watching ${queueName(m.queue)}.`);
  });
}
function gotQueue(m) {
  S.queues.set(String(m.queue), m);
  renderQueues();
}
function unwatch(id) {
  S.queues.delete(id);
  request({ type: 'queue.unwatch', queue: id });
  renderQueues();
  $('q-name').focus();
}
function pick(conv) {
  S.acceptedHere.add(conv);
  request({ type: 'conversation.pick', conversation: conv }, m => {
    if (m.type !== 'error') return;
    S.acceptedHere.delete(conv);
    say({ taken: 'Someone else took that conversation first.', at_capacity: 'You have no room for another conversation on that channel.',
      not_available: 'Set yourself available to pick conversations.', forbidden: 'That queue is not one of yours.' }[m.code] ||
      `The conversation could not be picked: ${m.message || m.code}.`, true);
  });
}
function renderQueues() {
  const list = $('queues');
  const active = document.activeElement;
  const keep = active && active.dataset ? active.dataset.key : null;
  list.replaceChildren(...[...S.queues.values()].map(v => {
    const li = el('li');
    li.append(el('h3', null, queueName(v.queue)));
    li.append(el('p', null, `${v.pulled} waiting to be picked, ${v.pushed} being offered by routing.`));
    const pulls = (v.conversations || []).filter(x => x.mode === 'pull');
    if (pulls.length) {
      const ul = el('ul');
      for (const x of pulls) {
        const b = el('button', 'btn', `Pick conversation ${x.conversation}`);
        b.type = 'button';
        b.dataset.key = 'pick-' + x.conversation;
        b.setAttribute('aria-describedby', 'qd-' + x.conversation);
        b.addEventListener('click', () => pick(String(x.conversation)));
        const d = el('span', 'hint', ` ${channelName(x.channel)}, waited ${ago(x.waited_ms)}`);
        d.id = 'qd-' + x.conversation;
        const item = el('li');
        item.append(b, d);
        ul.append(item);
      }
      li.append(ul);
    }
    const stop = el('button', 'btn btn-quiet', `Stop watching ${queueName(v.queue)}`);
    stop.type = 'button';
    stop.dataset.key = 'stop-' + v.queue;
    stop.addEventListener('click', () => unwatch(String(v.queue)));
    li.append(stop);
    return li;
  }));
  if (keep) {
    const b = list.querySelector(`[data-key="${CSS.escape(keep)}"]`);
    if (b) b.focus();
  }
}

// ---------------------------------------------------------------- the protocol
function onmessage(m) {
  if (m.id != null && S.waiting.has(m.id)) {
    const h = S.waiting.get(m.id);
    S.waiting.delete(m.id);
    h(m);
    if (m.type === 'error' || m.type === 'conversation.history') return;
  } else if (m.type === 'error') {
    if (m.code !== 'rate_limited') say(`Switchboard refused a request: ${m.message || m.code}.`);
    return;
  }
  const c = m.conversation != null ? S.convs.get(String(m.conversation)) : null;
  switch (m.type) {
  case 'desk.ready': {
    // An admin changed this account's role or queues: the daemon closed the
    // socket (4005) and this one is served under the new rules.
    if (S.me && S.me.role !== m.role) say(`Your role is now ${ROLE_TEXT[m.role] || m.role}.`, true);
    S.me = m;
    S.idleS = Number(m.idle_timeout_s) || 0;
    S.lastActive = Date.now();
    $('who-name').textContent = m.name || '';
    roleLinks(m.role);
    // A new socket may mean new queues (4005): their names and the watch list again.
    loadQueues();
    // The status this tab last chose; a new tab takes the status the advisor has now
    // (another tab's), which desk.conversations tells.
    const want = wantStatus();
    S.statusFromServer = !want;
    if (want) setStatus(want.status, want.reason, false);
    // A new socket follows no queue: watch again what was watched.
    for (const id of S.queues.keys()) {
      request({ type: 'queue.view', queue: id }, v => {
        if (v.type === 'queue.view') gotQueue(v);
        else if (v.code === 'forbidden') {
          // No longer one of this advisor's queues.
          S.queues.delete(id);
          renderQueues();
          say(`${queueName(id)} is no longer one of yours.`);
        }
      });
    }
    break;
  }
  case 'queue.view':
    if (m.id == null) gotQueue(m);
    break;
  case 'desk.conversations': {
    const seen = new Set();
    for (const x of m.conversations || []) {
      const id = String(x.conversation);
      seen.add(id);
      if (x.state === 'offered') {
        addOffer({ conversation: id, queue: x.queue, channel: x.channel, deadline_ms: x.deadline_ms, waited_ms: x.waited_ms });
      } else {
        dropOffer(id);
        const cv = conv(id, { queue: x.queue, channel: x.channel, waited_ms: x.waited_ms });
        cv.gone = '';
        cv.touched = ++S.gen;
        // Ended, in its queue's wrap-up time: it holds the capacity until then.
        if (x.state === 'ended') {
          cv.ended = cv.ended || 'system';
          cv.acwUntil = Number(x.deadline_ms) || 0;
        }
        askHistory(cv);
      }
    }
    if (m.capacity && Object.keys(m.capacity).length) S.capacity = m.capacity;
    if (S.statusFromServer) {
      S.statusFromServer = false;
      const st = ['available', 'busy', 'away'].includes(m.status) ? m.status : 'offline';
      setStatus(st, st === 'offline' ? '' : m.reason || '', false);
    }
    for (const id of [...S.offers.keys()]) if (!seen.has(id)) dropOffer(id);
    // Routing no longer holds the others: those waiting for their wrap-up stay (and
    // ended chats of this advisor come back after a reload), the rest leave.
    checkWrapups([...S.convs.keys()].filter(id => !seen.has(id)));
    renderInbox();
    renderConv();
    break;
  }
  case 'desk.status':
    S.status = m.status;
    S.reason = m.reason || '';
    if (m.capacity) S.capacity = m.capacity;
    if (m.status !== 'offline' || m.reason !== 'disconnected') {
      sessionStorage.setItem('sb-desk-status', JSON.stringify({ status: m.status, reason: S.reason }));
    }
    renderStatus();
    say(`Your status was changed to ${STATUS_TEXT[m.status] || m.status}` +
      (m.reason ? `: ${REASON_TEXT[m.reason] || m.reason}.` : '.'), m.reason === 'missed_offers');
    break;
  case 'offer':
    addOffer({ ...m, conversation: String(m.conversation) });
    break;
  case 'conversation.assigned': {
    const id = String(m.conversation);
    const o = dropOffer(id);
    const cv = conv(id, o ? { queue: o.queue, channel: o.channel, waited_ms: o.waited_ms } : {});
    cv.gone = '';
    cv.touched = ++S.gen;
    askHistory(cv);
    renderInbox();
    if (m.seized) {
      // The advisor answered a call on their phone: they are talking to the resident now.
      cv.channel = m.channel || 'voice';
      const who = voice.popCaller(id);
      voice.gone(id, 'answered');
      openConv(id, true);
      say(`You answered the call${who ? ' from ' + who : ''}. Its conversation is open: add notes as you talk.`, true);
    } else if (S.acceptedHere.has(id)) {
      S.acceptedHere.delete(id);
      say('Offer accepted. The conversation is open.');
      openConv(id, true);
    } else {
      say('A conversation was added to your list.');
    }
    break;
  }
  case 'conversation.ended': {
    // After-contact work: the chat's capacity stays held until wrap_up_until_ms.
    const cv = S.convs.get(String(m.conversation));
    if (!cv) break;
    cv.ended = cv.ended || 'system';
    cv.acwUntil = Number(m.wrap_up_until_ms) || 0;
    clearTimeout(cv.acwTimer);
    if (cv.acwUntil > Date.now()) cv.acwTimer = setTimeout(renderInbox, cv.acwUntil - Date.now() + 50);
    renderInbox();
    break;
  }
  case 'conversation.removed': {
    const id = String(m.conversation);
    if (S.offers.has(id)) {
      dropOffer(id);
      if (m.reason === 'timed_out') say('An offer timed out and went to another advisor.', true);
      else if (m.reason !== 'rejected') say('An offer was withdrawn.');
    }
    const cv = S.convs.get(id);
    if (cv && cv.ended && m.reason !== 'transferred' && m.reason !== 'requeued') {
      // An ended chat leaves routing but stays the advisor's until it is wrapped up.
      cv.acwUntil = 0;
      checkWrapups([id]);
      renderInbox();
    } else if (cv) {
      const why = { released: 'released', transferred: 'transferred', requeued: 'sent back to the queue' }[m.reason] || m.reason;
      cv.typing = false;
      clearTimeout(cv.typingTimer);
      if (S.open === id) {
        cv.gone = why;
        stopTyping(cv);
      } else S.convs.delete(id);
      say(`A conversation left your list: ${why}.`);
      renderInbox();
      renderConv();
    }
    break;
  }
  case 'conversation.message': {
    if (!c) break;
    const x = { seq: m.seq, from: m.from, name: m.name, text: m.text, at: m.at, client_id: m.client_id,
      metadata: m.metadata };
    const isNew = !c.messages.has(m.seq);
    c.messages.set(m.seq, x);
    takeFields(c, x);
    if (m.client_id && c.pending.has(m.client_id)) c.pending.delete(m.client_id);
    // A line of the call's timeline: its facts (state, duration, callback) changed too.
    if (isNew && m.metadata && m.metadata.voice) askHistory(c);
    if (m.from === 'resident') {
      c.typing = false;
      if (isNew) {
        if (S.open === c.id && document.visibilityState === 'visible') say(`${residentName(c)} says: ${m.text}`);
        else say(`New message from ${residentName(c)}.`);
      }
    }
    changed(c);
    break;
  }
  case 'conversation.delivery': {
    // An emailed or texted reply was sent, will be tried again, or failed for good; a
    // text's receipt moved on (delivered, not delivered).
    const x = c && c.messages.get(m.seq);
    if (!x || !m.delivery) break;
    const was = x.delivery || {};
    const d = { ...m.delivery };
    if (byText(c) && (RECEIPT_RANK[was.receipt] || 0) > (RECEIPT_RANK[d.receipt] || 0)) {
      d.receipt = was.receipt;
      d.receipt_detail = was.receipt_detail;
    }
    x.delivery = d;
    const how = byText(c) ? 'A text' : 'An email reply';
    if ((d.status === 'failed' || d.status === 'dead') && was.status !== d.status) {
      say(`${how} to ${residentName(c)} was not sent: ${d.error || 'refused'}.`);
    } else if (byText(c) && d.receipt === 'failed' && was.receipt !== 'failed') {
      say(`A text to ${residentName(c)} was not delivered: ${d.receipt_detail || 'the phone network could not deliver it'}.`);
    }
    changed(c);
    break;
  }
  case 'conversation.typing':
    // The resident's (a desk is never told another advisor's typing).
    if (!c || c.ended || c.gone) break;
    c.typing = !!m.state;
    clearTimeout(c.typingTimer);
    if (c.typing) c.typingTimer = setTimeout(() => { c.typing = false; if (S.open === c.id) renderConv(); }, 15000);
    if (S.open === c.id) $('c-typing').textContent = typingText(c);
    break;
  case 'conversation.read':
    // Another desk (or tab) read it: nothing to announce.
    if (!c) break;
    c.advisorRead = Math.max(c.advisorRead, m.seq || 0);
    changed(c);
    break;
  case 'conversation.finished':
    // Who ended it: this event says, even when routing's conversation.ended came first.
    if (!c) break;
    c.ended = m.by || c.ended || 'advisor';
    c.typing = false;
    clearTimeout(c.typingTimer);
    if (!c.endSaid) {
      // Said once: this desk's own end was announced by its answer.
      c.endSaid = true;
      if (c.channel === 'chat' && S.open === c.id) say(`The chat has ended (by the ${c.ended}). Wrap it up when you are ready.`);
      else if (c.channel === 'chat') say(`A chat with ${residentName(c)} has ended. It stays in your list until you wrap it up.`);
      else say(`The conversation with ${residentName(c)} has ended. It stays in your list until you wrap it up.`);
    }
    changed(c);
    break;
  case 'chat.read':
    // How far the resident read (the chat's own event).
    if (!c) break;
    c.residentRead = Math.max(c.residentRead, m.seq || 0);
    changed(c);
    break;
  case 'chat.page':
    if (!c) break;
    c.page = { url: m.url, title: m.title };
    changed(c);
    if (S.open === c.id) say(`${residentName(c)} moved to the page ${m.title || m.url}.`);
    break;
  case 'chat.presence':
    if (!c) break;
    c.online = !!m.online;
    changed(c);
    break;
  case 'voice.ringing':
    voice.ringing(m);
    break;
  case 'voice.answered':
  case 'voice.ended':
    voice.gone(String(m.conversation), m.type === 'voice.ended' ? 'ended' : 'answered');
    break;
  case 'voice.callback.recorded':
  case 'conversation.transferred':
  case 'conversation.released':
  case 'conversation.wrapped_up':
  case 'offer.accepted':
  case 'offer.rejected':
  case 'desk.status.ok':
  case 'conversation.replied':
  case 'conversation.noted':
  case 'conversation.read.ok':
  case 'conversation.end.ok':
  case 'conversation.typing.ok':
  case 'hello':
  case 'pong':
    break;
  default:
    break;
  }
}

// The record panel linked this conversation to another customer, or edited its name.
function customerChanged(id, cu) {
  const c = S.convs.get(String(id));
  if (!c) return;
  c.customer = { ...(c.customer || {}), ...cu };
  changed(c);
}

// ---------------------------------------------------------------- wiring
function init() {
  record.init({ say, sessionGone, customerChanged });
  alerts.init({ sessionGone, focusOffer });
  voice.init({ request, say, fieldError, channelName, changed,
    current: () => (S.open ? S.convs.get(S.open) : null),
    openRecord: (customer, conversation) => record.openCustomer(customer, conversation),
    wrapUp: () => { if ($('wrap-form').hidden) wrap.open(); } });
  $('signin-form').addEventListener('submit', signIn);
  $('signout').addEventListener('click', signOut);
  $('status-select').addEventListener('change', () => {
    S.choosing = true;
    $('reason-field').hidden = $('status-select').value !== 'away';
  });
  $('status-form').addEventListener('submit', e => {
    e.preventDefault();
    S.choosing = false;
    const st = $('status-select').value;
    setStatus(st, st === 'away' ? $('status-reason').value : '', true);
  });
  $('composer-form').addEventListener('submit', sendReply);
  picker = new CannedPicker({ root: $('canned'), button: $('canned-btn'), search: $('canned-q'),
    list: $('canned-list'), count: $('canned-count'), close: $('canned-close'), composer: $('composer') },
  cannedContext, insertReply, say);
  wrap = new WrapUp({ request, say, fieldError, current: () => (S.open ? S.convs.get(S.open) : null), done: wrappedUp });
  $('composer').addEventListener('keydown', e => {
    if (composerKey(e)) return;
    if (e.key !== 'Enter' || e.shiftKey || e.altKey || e.isComposing) return;
    // Chat and text: Enter sends. Email: a letter of paragraphs that cannot be called back once
    // sent, so Enter starts a new line and Ctrl (or Command) and Enter sends.
    const c = S.open ? S.convs.get(S.open) : null;
    const mail = c && !!mailTarget(c);
    if (mail ? e.ctrlKey || e.metaKey : !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      sendReply();
    }
  });
  $('composer').addEventListener('input', typing);
  $('composer').addEventListener('input', composerSlash);
  $('composer').addEventListener('input', () => countText(true));
  $('end-btn').addEventListener('click', endChat);
  $('close-btn').addEventListener('click', () => release('closed'));
  $('transfer-form').addEventListener('submit', transfer);
  $('transfer').addEventListener('toggle', () => { if ($('transfer').open) loadAdvisors(); });
  $('note-form').addEventListener('submit', addNote);
  $('queue-form').addEventListener('submit', watchQueue);
  document.addEventListener('visibilitychange', () => {
    if (S.open) markRead(S.convs.get(S.open));
  });
  window.addEventListener('online', () => sock.now());
  // Alt+Shift+O: to the first offer, from anywhere (say, while typing a reply).
  document.addEventListener('keydown', e => {
    if (e.altKey && e.shiftKey && !e.ctrlKey && !e.metaKey && e.code === 'KeyO') {
      const o = $('offers').querySelector('.offer');
      if (o) { e.preventDefault(); o.focus(); }
    }
  });
  setInterval(() => { for (const o of S.offers.values()) if (o.left) tickOffer(o); }, 1000);
  setInterval(() => { if (!$('desk').hidden) renderInbox(); }, 15000);
  setInterval(checkIdle, 5000);
  $('idle-stay').addEventListener('click', stayIn);
  $('idle-out').addEventListener('click', () => { closeIdle(); signOut(); });
  // Escape in the dialog means "stay signed in", as the first button does.
  $('idle-dlg').addEventListener('cancel', e => { e.preventDefault(); stayIn(); });

  // Signed out from another staff page (common.js): said here, once.
  const params = new URLSearchParams(location.search);
  const out = params.has('signed-out') ? 'You have signed out.' : '';
  if (out) {
    params.delete('signed-out');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? '?' + rest : ''));
  }
  fetch('/api/session', { credentials: 'same-origin', cache: 'no-store' })
    .then(r => (r.ok ? r.json().then(startDesk) : showSignIn(out)))
    .catch(() => showSignIn('Switchboard cannot be reached. Check your connection, then sign in.'));
}
init();
