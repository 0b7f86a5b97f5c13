// Calls in the advisor desk (docs/voice.md, docs/desk.md "Calls"): the screen pop while a
// call rings the advisor's extension (voice.ringing, gone on voice.answered, voice.ended or
// after POP_MS without news), the call's facts on its conversation (conversation.history's
// `call`), and a missed call's callback: when to call back, the number as a tel: link and
// the outcome form (voice.callback, answered voice.callback.recorded).
// desk.js calls ringing()/gone() on the protocol's events, render(c) whenever it renders the
// conversation view, offerTitle() for a voice offer's card, reset() on sign-out.
// Every string from the network goes into the page with textContent.

import { $, el, plural } from './common.js';

const POP_MS = 60000;   // a pop without news goes after this
const RETRY_MS = 2 * 3600 * 1000;   // "try again at" starts this far ahead
const RETRY_MAX_MS = 30 * 86400 * 1000;   // the daemon takes a retry up to 30 days ahead
const NOTE_MAX = 2000;   // bytes, as the daemon counts them

let hooks = { request: () => false, say: () => {}, openRecord: () => {}, fieldError: () => true,
  wrapUp: () => {}, changed: () => {} };
const pops = new Map();   // conversation -> {msg, at, timer}
const callers = new Map();   // conversation -> the caller as said, of the last calls that rang here
const form = { conv: null, busy: false };

// ---------------------------------------------------------------- words
// A number as a UK resident writes it: +447700900123 -> 07700 900123; others as given.
export function phoneText(e164) {
  const m = /^\+44(\d{4})(\d{6})$/.exec(e164 || '');
  if (m) return `0${m[1]} ${m[2]}`;
  const g = /^\+44(\d{9,10})$/.exec(e164 || '');
  return g ? `0${g[1]}` : e164 || '';
}
// "17:00 on 8 Dec" in the council's time (London), as the timeline's lines say it.
export function dueText(ms) {
  const d = new Date(Number(ms));
  if (isNaN(d)) return '';
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/London', hour: '2-digit',
    minute: '2-digit', day: 'numeric', month: 'short', hourCycle: 'h23' }).formatToParts(d).map(x => [x.type, x.value]));
  return `${p.hour}:${p.minute} on ${p.day} ${p.month}`;
}
const DIRECTION = { inbound: 'Incoming call', outbound: 'Outgoing call' };
const STATE = { new: 'Starting', ringing: 'Ringing', answered: 'On the call now', ended: 'Ended' };
const CAUSE = { normalClearing: 'Hung up', busy: 'The line was busy', cancel: 'The caller hung up before it was answered',
  noAnswer: 'Nobody answered', congestion: 'The phone network was busy', notFound: 'The number was not found',
  forwarded: 'Forwarded', voicemail: 'Went to voicemail', failed: 'The call failed' };
const OUTCOME = { reached: 'Reached the resident', no_answer: 'No answer', message_left: 'Left a message' };
function duration(s) {
  if (s == null || s < 0) return '';
  return s < 60 ? plural(s, 'second') : `${plural(Math.floor(s / 60), 'minute')} ${plural(s % 60, 'second')}`;
}
function matchText(m) {
  if (m.withheld || m.match === 'withheld') return 'Withheld number: the caller cannot be looked up';
  if (m.match === 'matched') return `Known caller: ${(m.customer && m.customer.name) || 'name not recorded'}`;
  if (m.match === 'new') return 'New caller: no earlier contact from this number';
  return 'Not a phone number: the caller matches no record';
}
function caller(m) {
  return m.withheld ? 'a withheld number' : m.caller_display || phoneText(m.caller) || 'an unknown number';
}

// ---------------------------------------------------------------- the screen pop
// voice.ringing: a pop for the call, newest first, said once (assertively).
export function ringing(m) {
  const id = String(m.conversation);
  const had = pops.get(id);
  if (had) clearTimeout(had.timer);
  const p = { msg: m, at: had ? had.at : Date.now() };
  p.timer = setTimeout(() => gone(id, 'timeout'), POP_MS);
  pops.set(id, p);
  callers.delete(id);
  callers.set(id, caller(m));
  if (callers.size > 50) callers.delete(callers.keys().next().value);
  renderPops();
  if (!had) {
    const cu = m.customer || {};
    const who = m.withheld ? '' : m.match === 'matched' && cu.name ? ` \u2014 ${cu.name}` :
      m.match === 'new' ? ' \u2014 new caller' : '';
    const flag = cu.vulnerable ? ' Vulnerable: take extra care.' : '';
    hooks.say(`Call from ${m.withheld ? 'a withheld number' : caller(m)}${who}.${flag}`, true);
  }
}
// voice.answered, voice.ended (or no news for a minute): the pop goes.
export function gone(conv, why) {
  const id = String(conv);
  const p = pops.get(id);
  if (!p) return;
  clearTimeout(p.timer);
  const had = p.node && p.node.contains(document.activeElement);
  pops.delete(id);
  renderPops();
  if (had) ($('pops').hidden ? $('desk-h') : $('pops-h')).focus();
  if (why === 'ended') hooks.say(`The call from ${caller(p.msg)} has ended.`);
}
// The pop's customer: whether a record worth opening is known.
const hasRecord = m => !m.withheld && m.customer && m.customer.id != null && m.match !== 'none';
function popNode(id, p) {
  const m = p.msg;
  const cu = m.customer || {};
  const li = el('li', 'pop');
  li.dataset.conversation = id;
  const h = el('h3', null, `Call from ${m.withheld ? 'a withheld number' : caller(m)}`);
  li.append(h, el('p', 'pop-match', matchText(m)));
  // What matters most on a call: said first, in words (not by colour alone).
  if (cu.vulnerable) li.append(el('p', 'pop-flag', 'Vulnerable: take extra care'));
  if (cu.reasonable_adjustments) {
    const ra = el('p', 'pop-adjust');
    ra.append(el('strong', null, 'Reasonable adjustments: '), cu.reasonable_adjustments);
    li.append(ra);
  }
  const facts = [m.phone_queue ? `Phone queue: ${m.phone_queue}` : '', m.extension ? `Ringing extension ${m.extension}` : '']
    .filter(Boolean);
  if (facts.length) li.append(el('p', 'hint', facts.join('. ') + '.'));
  const open = Array.isArray(m.open) ? m.open : [];
  if (open.length) {
    const oh = el('h4', null, `Open conversations (${open.length})`);
    oh.id = `pop-o-${id}`;
    const ul = el('ul', 'pop-open');
    ul.setAttribute('aria-labelledby', oh.id);
    for (const o of open) {
      const b = el('button', 'linkish', `${o.reference || 'Conversation ' + o.conversation}: ` +
        `${channelWord(o.channel)}${o.subject ? `, \u201c${o.subject}\u201d` : ''}`);
      b.type = 'button';
      b.addEventListener('click', () => hooks.openRecord(cu.id, String(o.conversation)));
      const item = el('li');
      item.append(b);
      ul.append(item);
    }
    li.append(oh, ul);
  } else if (hasRecord(m)) li.append(el('p', 'hint', 'No open conversations.'));
  if (hasRecord(m)) {
    const b = el('button', 'btn', 'Open the full record');
    b.type = 'button';
    b.append(el('span', 'vh', ` of ${cu.name || 'the caller'}`));
    b.addEventListener('click', () => hooks.openRecord(cu.id, null));
    li.append(b);
  }
  const x = el('button', 'btn btn-quiet', 'Dismiss');
  x.type = 'button';
  x.append(el('span', 'vh', ` the call from ${caller(m)}`));
  x.addEventListener('click', () => gone(id, 'dismissed'));
  li.append(x);
  p.node = li;
  return li;
}
let channelWord = c => c;
function renderPops() {
  const list = $('pops-list');
  const active = document.activeElement;
  const keep = active && active.closest && active.closest('.pop') ? active.closest('.pop').dataset.conversation : null;
  const idx = keep ? [...active.closest('.pop').querySelectorAll('button')].indexOf(active) : -1;
  const all = [...pops.entries()].sort((a, b) => b[1].at - a[1].at);
  list.replaceChildren(...all.map(([id, p]) => popNode(id, p)));
  $('pops').hidden = pops.size === 0;
  $('pops-h').textContent = pops.size > 1 ? `${pops.size} calls ringing` : 'Call ringing';
  if (keep && pops.has(keep)) {
    const bs = pops.get(keep).node.querySelectorAll('button');
    if (bs[idx]) bs[idx].focus();
  }
}
// The caller of a call that rang here (for the words said when it is answered), or ''.
export const popCaller = conv => callers.get(String(conv)) || '';

// ---------------------------------------------------------------- the call's conversation
// The call's facts (history's `call`) and, for a missed call, its callback and the outcome
// form; hidden for other channels.
export function render(c) {
  const voice = !!c && c.channel === 'voice';
  $('c-call').hidden = !voice || !c.call;
  $('c-callback').hidden = !voice || !c.callback;
  if (!voice) { form.conv = null; return; }
  if (c.call) renderCall(c.call);
  if (c.callback) renderCallback(c);
}
function renderCall(k) {
  const dl = $('c-call-facts');
  const rows = [['Call', DIRECTION[k.direction] || 'Call'],
    ['Number', k.withheld ? 'Withheld number' : phoneText(k.caller) || k.caller_raw || 'Not known'],
    ['State', STATE[k.state] || k.state || 'Not known'],
    ['Answered by', k.answered_by || (k.state === 'ended' ? 'Nobody' : 'Not yet')]];
  if (k.state === 'ended') {
    if (k.answered_by || k.duration_s != null) rows.push(['Duration', k.duration_s != null ? duration(k.duration_s) : 'Not known']);
    if (k.cause && k.cause !== 'normalClearing') rows.push(['How it ended', CAUSE[k.cause] || k.cause]);
  }
  dl.replaceChildren(...rows.map(([t, d]) => {
    const x = el('div');
    x.append(el('dt', null, t), el('dd', null, d));
    return x;
  }));
  if (k.recording_url && /^https?:\/\//i.test(k.recording_url)) {
    const x = el('div');
    const dd = el('dd');
    const a = el('a', null, 'Listen to the recording');
    a.href = k.recording_url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    dd.append(a, el('span', 'hint', ' (opens in a new tab, on the phone system)'));
    x.append(el('dt', null, 'Recording'), dd);
    dl.append(x);
  }
}
// The latest attempt: `queued` (being worked: the outcome form), `scheduled` (another
// attempt from not_before, once this one is wrapped up) or `done` (its outcome recorded).
function renderCallback(c) {
  const cb = c.callback;
  const k = c.call || {};
  const queued = cb.status === 'queued';
  const overdue = queued && cb.due_at && cb.due_at < Date.now();
  const when = cb.due_at ? dueText(cb.due_at) : '';
  $('c-callback-h').textContent = queued ? `${overdue ? 'Overdue: missed' : 'Missed'} call \u2014 call back by ${when}` :
    cb.status === 'scheduled' ? `Next callback attempt from ${dueText(cb.not_before)}` :
      `Callback attempt ${cb.attempt} recorded`;
  $('c-callback').classList.toggle('overdue', !!overdue);
  const num = $('c-callback-number');
  num.replaceChildren();
  if (k.caller && !k.withheld) {
    const a = el('a', null, phoneText(k.caller));
    a.href = `tel:${k.caller}`;
    num.append('Number to call: ', a);
  } else num.textContent = 'The number is withheld: it cannot be called back.';
  $('c-callback-attempt').textContent = queued ?
    `Attempt ${cb.attempt}${overdue ? `: its deadline, ${when}, has passed` : ''}.` :
    cb.status === 'scheduled' ? `Attempt ${cb.attempt}, due by ${when}: it comes back to the queue then, ` +
      'once this conversation is wrapped up.' : `${OUTCOME[cb.outcome] || cb.outcome || 'Recorded'}.` +
      (c.ended || c.gone ? '' : ' Wrap it up to finish.');
  const open = queued && !c.gone;
  $('cb-form').hidden = !open;
  if (open && form.conv !== `${c.id}:${cb.attempt}`) startForm(c);
}
// A fresh outcome form for conversation c: nothing chosen, "try again" 2 hours ahead.
function startForm(c) {
  form.conv = `${c.id}:${c.callback.attempt}`;
  form.busy = false;
  for (const r of document.querySelectorAll('#cb-form input[name="cb-outcome"]')) r.checked = false;
  $('cb-note').value = '';
  $('cb-retry').value = localInput(Date.now() + RETRY_MS);
  $('cb-retry-field').hidden = true;
  $('cb-submit').disabled = false;
  clearErrors();
}
function localInput(ms) {
  const d = new Date(ms);
  const z = n => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${z(d.getMonth() + 1)}-${z(d.getDate())}T${z(d.getHours())}:${z(d.getMinutes())}`;
}
function outcomeChosen() {
  const r = document.querySelector('#cb-form input[name="cb-outcome"]:checked');
  return r ? r.value : '';
}
function outcomeError(text) {
  const e = $('cb-outcome-err');
  e.textContent = text || '';
  e.hidden = !text;
  $('cb-outcomes').setAttribute('aria-describedby', text ? 'cb-outcome-err' : '');
  if (!text) $('cb-outcomes').removeAttribute('aria-describedby');
}
function clearErrors() {
  outcomeError('');
  hooks.fieldError($('cb-note'), 'cb-note-err', '');
  hooks.fieldError($('cb-retry'), 'cb-retry-err', '');
  $('cb-retry').setAttribute('aria-describedby', 'cb-retry-hint');
  $('cb-error').hidden = true;
}
function submit(ev, current) {
  ev.preventDefault();
  const c = current();
  if (!c || !c.callback || `${c.id}:${c.callback.attempt}` !== form.conv || form.busy) return;
  clearErrors();
  const outcome = outcomeChosen();
  if (!outcome) {
    outcomeError('Choose how the callback went');
    document.querySelector('#cb-form input[name="cb-outcome"]').focus();
    return;
  }
  const note = $('cb-note').value.trim();
  if (new TextEncoder().encode(note).length > NOTE_MAX) {
    hooks.fieldError($('cb-note'), 'cb-note-err', `Shorten the note: it can be at most ${NOTE_MAX} characters`);
    $('cb-note').focus();
    return;
  }
  const msg = { type: 'voice.callback', conversation: c.id, outcome };
  if (note) msg.note = note;
  if (outcome !== 'reached') {
    const v = $('cb-retry').value;
    const at = v ? new Date(v).getTime() : NaN;
    const bad = !v ? '' : isNaN(at) ? 'Enter a date and time, or leave it empty for no other attempt' :
      at <= Date.now() ? 'Choose a time later than now' :
        at > Date.now() + RETRY_MAX_MS ? 'Choose a time within the next 30 days' : '';
    if (bad) {
      hooks.fieldError($('cb-retry'), 'cb-retry-err', bad);
      $('cb-retry').setAttribute('aria-describedby', 'cb-retry-err cb-retry-hint');
      $('cb-retry').focus();
      return;
    }
    if (v) msg.retry_at = at;
  }
  form.busy = true;
  $('cb-submit').disabled = true;
  hooks.request(msg, m => {
    form.busy = false;
    $('cb-submit').disabled = false;
    if (m.type === 'error') {
      $('cb-error-text').textContent = m.code === 'forbidden' ? 'This callback is not yours any more, so its outcome cannot be recorded.' :
        m.code === 'offline' ? 'Not connected: try again when the connection is back.' :
          m.code === 'bad_message' ? `Switchboard refused the outcome: ${m.message || 'a field is not right'}.` :
            `The outcome was not recorded: ${m.message || m.code}. Try again in a moment.`;
      $('cb-error').hidden = false;
      $('cb-error').focus();
      return;
    }
    // Recorded: the timeline has it; the conversation is in wrap-up (wrapup.js).
    const cv = current();
    if (cv && cv.id === c.id && cv.callback) {
      // Until the history says so (a next attempt scheduled, say): this one done.
      if (cv.callback.status === 'queued') cv.callback = { ...cv.callback, status: 'done', outcome };
      hooks.say(`Callback attempt ${m.attempt || cv.callback.attempt} recorded: ${OUTCOME[outcome].toLowerCase()}` +
        `${msg.retry_at ? `, another attempt from ${dueText(msg.retry_at)}` : ''}. Now wrap it up.`);
      hooks.changed(cv);
      hooks.wrapUp();
    }
  });
}

// ---------------------------------------------------------------- offers
// A voice offer's heading once its summary is in: "Call back 07700 900123 (missed call)".
export function offerTitle(s) {
  if (!s || s.channel !== 'voice') return '';
  const what = /^voicemail/i.test(s.subject || '') ? 'voicemail' : 'missed call';
  return s.caller ? `Call back ${phoneText(s.caller)} (${what})` : `Call back (${what})`;
}
// Its deadline, for the card: '' when none.
export function offerDue(s) {
  if (!s || s.channel !== 'voice' || !s.due_at) return '';
  return `${s.due_at < Date.now() ? 'Overdue: was due' : 'Due'} by ${dueText(s.due_at)}`;
}

// ---------------------------------------------------------------- wiring
// h: request(msg, handler), say(text, assertive), openRecord(customer, conversation|null),
// fieldError(input, errId, text), wrapUp() (opens the wrap-up form), changed(c),
// current() (the open conversation or null), channelName(channel).
export function init(h) {
  hooks = { ...hooks, ...h };
  channelWord = h.channelName || channelWord;
  $('cb-form').addEventListener('submit', e => submit(e, h.current));
  for (const r of document.querySelectorAll('#cb-form input[name="cb-outcome"]')) {
    r.addEventListener('change', () => {
      $('cb-retry-field').hidden = outcomeChosen() === 'reached' || !outcomeChosen();
      outcomeError('');
    });
  }
}
export function reset() {
  for (const p of pops.values()) clearTimeout(p.timer);
  pops.clear();
  callers.clear();
  renderPops();
  form.conv = null;
  $('cb-note').value = '';
}
