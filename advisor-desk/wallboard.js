// Switchboard wallboard: the queues and advisors live, for supervisors and admins, over the
// desk protocol (wallboard.watch / wallboard / wallboard.unwatch: docs/routing-protocol.md,
// "Wallboard"). The times (longest wait, time in status) tick every second in the tables but
// are never announced; with "Announce changes" on, a short polite summary is announced when
// the number waiting or the advisors' statuses change.
import { DeskSocket } from './socket.js';
import { $, el, ago, say, pageStaff, showView, showSignedOut, showForbidden, STATUS_TEXT, REASON_TEXT, channelName } from './common.js';

const ALLOWED = ['supervisor', 'admin'];
const SUMMARY_EVERY_MS = 15000; // at most one announcement this often

const B = {
  board: null,
  skew: 0,          // the instance's clock minus ours, from the board's `at`
  summary: '',      // what was last summarised
  saidAt: 0,
  sayTimer: 0
};
const sock = new DeskSocket({ onmessage, onstate, onsession: signedOut });

function signedOut(note) {
  sock.stop();
  showSignedOut('board', 'wallboard.html', note, 'Sign in – Switchboard wallboard');
}
function forbidden() {
  sock.stop();
  showForbidden('board', 'Supervisors only – Switchboard wallboard');
}

function onstate(state, detail) {
  const c = $('conn');
  if (state === 'connecting') c.textContent = 'Connecting…';
  else if (state === 'waiting') c.textContent = `Connection lost. Trying again in ${detail} s. The figures are not live.`;
  else c.textContent = '';
}

function onmessage(m) {
  if (m.type === 'desk.ready') {
    sock.send({ type: 'wallboard.watch', id: 'wb' });
  } else if (m.type === 'error' && m.id === 'wb') {
    if (m.code === 'forbidden') forbidden();
    else $('conn').textContent = `The wallboard is not available: ${m.message || m.code}.`;
  } else if (m.type === 'wallboard' && m.board) {
    B.skew = typeof m.at === 'number' ? m.at - Date.now() : 0;
    B.board = m.board;
    $('updated').textContent = new Date(Date.now()).toLocaleTimeString('en-GB');
    render();
    summarise();
  }
}

// ---------------------------------------------------------------- rendering
const now = () => Date.now() + B.skew;

function cell(tag, text, cls, label) {
  const c = el(tag, cls, text);
  if (tag === 'th') c.scope = 'row';
  if (label) c.dataset.label = label;
  return c;
}

function waitText(q) {
  return q.oldest_since_ms == null || !q.waiting ? 'None waiting' : ago(now() - q.oldest_since_ms);
}
function slText(q) {
  if (q.service_level_pct == null) return 'None answered yet';
  return `${Math.round(q.service_level_pct)} % (${q.answered_in_target} of ${q.answered})`;
}
function statusText(a) {
  const s = STATUS_TEXT[a.status] || a.status || 'Unknown';
  return a.reason ? `${s} (${REASON_TEXT[a.reason] || a.reason})` : s;
}
function loadItems(a) {
  const ul = el('ul', 'loads');
  const chans = new Set([...Object.keys(a.capacity || {}), ...Object.keys(a.load || {})]);
  for (const ch of [...chans].sort()) {
    const n = (a.load || {})[ch] || 0, cap = (a.capacity || {})[ch];
    ul.append(el('li', null, `${channelName(ch)}: ${n} of ${cap == null ? '?' : cap}`));
  }
  if (!chans.size) ul.append(el('li', null, 'No channels'));
  return ul;
}

function render() {
  const b = B.board;
  const qs = Array.isArray(b.queues) ? b.queues : [];
  const as = Array.isArray(b.advisors) ? b.advisors : [];
  $('queues').replaceChildren(...qs.map(q => {
    const tr = el('tr');
    tr.dataset.queue = String(q.queue);
    const w = cell('td', q.waiting, 'num waiting', 'Waiting now');
    const lw = cell('td', waitText(q), 'num wait', 'Longest wait');
    lw.dataset.since = q.waiting && q.oldest_since_ms != null ? String(q.oldest_since_ms) : '';
    tr.append(cell('th', q.name || q.slug), w, lw,
      cell('td', slText(q), 'num', 'Answered within target today'),
      cell('td', q.answered || 0, 'num', 'Answered today'),
      cell('td', q.abandoned || 0, 'num', 'Abandoned today'));
    return tr;
  }));
  $('queues-empty').hidden = qs.length > 0;
  $('queues-table').hidden = qs.length === 0;
  $('advisors').replaceChildren(...as.map(a => {
    const tr = el('tr');
    tr.dataset.staff = String(a.staff);
    const st = el('td');
    st.dataset.label = 'Status';
    const badge = el('span', 'state', statusText(a));
    badge.dataset.status = a.status || '';
    st.append(badge);
    const t = cell('td', a.since_ms != null ? ago(now() - a.since_ms) : '', 'num since', 'Time in status');
    t.dataset.since = a.since_ms != null ? String(a.since_ms) : '';
    const load = el('td');
    load.dataset.label = 'Load';
    load.append(loadItems(a));
    tr.append(cell('th', a.name || `Staff ${a.staff}`), st, t, load);
    return tr;
  }));
  $('advisors-empty').hidden = as.length > 0;
  $('advisors-table').hidden = as.length === 0;
}

// Every second: only the times change, in place (no live region: nothing is announced).
function tick() {
  if (!B.board) return;
  for (const td of document.querySelectorAll('#queues td.wait, #advisors td.since')) {
    if (td.dataset.since) td.textContent = ago(now() - Number(td.dataset.since));
  }
}

// A polite summary of what changed, when asked for, at most every SUMMARY_EVERY_MS.
function summarise() {
  if (!$('announce').checked || !B.board) return;
  const qs = (B.board.queues || []).map(q => `${q.name || q.slug}: ${q.waiting} waiting`);
  const counts = {};
  for (const a of B.board.advisors || []) counts[a.status] = (counts[a.status] || 0) + 1;
  const as = Object.keys(counts).sort().map(s => `${counts[s]} ${(STATUS_TEXT[s] || s).toLowerCase()}`);
  const text = `${qs.join('. ')}. Advisors: ${as.length ? as.join(', ') : 'none signed in'}.`;
  if (text === B.summary) return;
  B.summary = text;
  clearTimeout(B.sayTimer);
  const wait = Math.max(0, B.saidAt + SUMMARY_EVERY_MS - Date.now());
  B.sayTimer = setTimeout(() => { B.saidAt = Date.now(); say(B.summary); }, wait);
}

async function init() {
  setInterval(tick, 1000);
  $('announce').addEventListener('change', () => {
    B.summary = '';
    if ($('announce').checked) summarise();
    else clearTimeout(B.sayTimer);
  });
  window.addEventListener('online', () => sock.now());
  const me = await pageStaff(signedOut);
  if (!me) return;
  if (!ALLOWED.includes(me.role)) {
    forbidden();
    return;
  }
  showView('board', 'board');
  $('board-h').focus();
  sock.start();
}
init();
