// Switchboard advisor desk: the customer record panel. Shows the open conversation's
// customer (identities, flags, links for review) and their past contacts on every channel
// (paged, each expandable to its messages); searches customers; links the conversation to
// another customer; creates and edits customers; links two records for review (never a
// merge). It talks only to the REST API of docs/api.md; desk.js calls show() whenever it
// renders the conversation view, reset() on sign-out, and is told through the hooks given
// to init() when the session has gone or a conversation's customer changed.
// Every string from a resident or the network goes into the page with textContent.

import { $, el, fieldError, channelName } from './common.js';

const PAGE = 20;
const STATUS = { open: 'open', waiting: 'waiting in a queue', offered: 'being offered', assigned: 'with an advisor',
  wrap_up: 'wrapping up', closed: 'closed', awaiting_customer: 'waiting for the resident' };
const KIND = { email: 'Email', phone: 'Phone', chat: 'Web chat visitor', uprn: 'Property (UPRN)' };
const LANG_RE = /^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$/;
const bytes = s => new TextEncoder().encode(s).length;
function when(ms) {
  if (ms == null) return '';
  const d = new Date(ms);
  return isNaN(d) ? '' : d.toLocaleString('en-GB', { day: 'numeric', month: 'short', year: 'numeric',
    hour: '2-digit', minute: '2-digit' });
}
function language(tag) {
  if (!tag) return 'Not stated';
  try {
    const n = new Intl.DisplayNames(['en-GB'], { type: 'language' }).of(tag);
    return n && n !== tag ? `${n} (${tag})` : tag;
  } catch {
    return tag;
  }
}

// ---------------------------------------------------------------- state
let hooks = { say: () => {}, sessionGone: () => {}, customerChanged: () => {} };
const R = {
  gen: 0,          // bumped on every record change and reset: late answers are dropped
  key: '',         // conversation:customer last shown by show()
  conv: null,      // the open conversation {id, reference, customer {id, name, match}}
  id: null,        // the customer shown
  rec: null,       // their record (GET /api/customers/{id})
  last: '',        // the timeline's last conversation id (the next page's `before`)
  more: false,
  confirming: false
};

// ---------------------------------------------------------------- REST
class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body || {};
  }
}
// One REST call: JSON both ways, X-Requested-With always. A gone session goes back to the
// desk's sign-in; other failures become an ApiError with words an advisor can act on.
async function api(method, path, body) {
  const headers = { 'X-Requested-With': 'switchboard-desk', Accept: 'application/json' };
  const opt = { method, credentials: 'same-origin', cache: 'no-store', headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(path, opt);
  } catch {
    throw new ApiError(0, 'Switchboard cannot be reached. Check your connection and try again.');
  }
  const data = await r.json().catch(() => null);
  if (r.ok) return data;
  const why = data && typeof data.error === 'string' ? data.error : '';
  if (r.status === 401) {
    hooks.sessionGone();
    throw new ApiError(401, 'Your session has ended. Sign in again to carry on.');
  }
  if (r.status === 403) throw new ApiError(403, `You are not allowed to do that${why ? ` (${why})` : ''}.`, data);
  if (r.status === 404) throw new ApiError(404, `Not found${why ? `: ${why}` : ''}.`, data);
  if (r.status === 409) throw new ApiError(409, why || 'That is already on another record.', data);
  if (r.status >= 500) {
    throw new ApiError(r.status, 'Switchboard could not reach its database. Nothing was changed; try again in a moment.');
  }
  throw new ApiError(r.status, why ? `Switchboard refused it: ${why}.` : `Switchboard answered ${r.status}.`, data);
}

// ---------------------------------------------------------------- fields and errors
// The error of a field is the element `<its id>-err`; true when there is none.
const check = (input, text) => fieldError(input, input.id + '-err', text);
function summary(id, text) {
  const box = $(id);
  box.replaceChildren();
  box.hidden = !text;
  if (text) box.append(el('p', null, text));
  return box;
}
function panelError(text) {
  summary('r-error', text);
}

// ---------------------------------------------------------------- the record
function customerName(rec) {
  return rec && rec.name ? rec.name : 'Name not known';
}
function isConvCustomer() {
  return !!(R.conv && R.conv.customer && R.rec && +R.conv.customer.id === +R.rec.id);
}

// Opens customer id in the panel (record, then the first page of the timeline).
async function openRecord(id, focus) {
  const gen = ++R.gen;
  R.id = id;
  R.rec = null;
  R.last = '';
  R.more = false;
  R.confirming = false;
  panelError('');
  // The forms belong to the record shown: never save one record's values over another's.
  $('r-edit-box').open = false;
  $('r-same-box').open = false;
  $('r-same-note').value = '';
  check($('r-same-note'), '');
  $('r-body').hidden = true;
  $('r-none').hidden = true;
  $('r-loading').hidden = false;
  $('r-timeline').replaceChildren();
  let rec;
  try {
    rec = await api('GET', `/api/customers/${encodeURIComponent(id)}`);
  } catch (e) {
    if (gen !== R.gen) return;
    $('r-loading').hidden = true;
    panelError(e.status === 404 ? `There is no customer ${id}.` : `The record could not be shown. ${e.message}`);
    return;
  }
  if (gen !== R.gen) return;
  R.rec = rec;
  $('r-loading').hidden = true;
  renderRecord();
  $('r-body').hidden = false;
  if (focus) $('r-name').focus();
  await loadTimeline(gen, false);
}

function renderRecord() {
  const rec = R.rec;
  const mine = isConvCustomer();
  $('r-name').textContent = customerName(rec);
  $('r-which').textContent = mine ? `This conversation's customer (customer ${rec.id}).` :
    R.conv ? `Customer ${rec.id}: not the open conversation's customer.` : `Customer ${rec.id}.`;
  const m = mine && R.conv.customer.match;
  const hint = $('r-match');
  // A call's record was found by the caller's number (the screen pop said how): no hint.
  $('r-match-box').hidden = !(m === 'new' || m === 'none' || m === 'ambiguous') || R.conv.channel === 'voice';
  // How the resident's details matched when the conversation began (its history's match):
  // a chat's pre-chat form, or what another channel brought (a web form's email or phone).
  const chat = !R.conv || !R.conv.channel || R.conv.channel === 'chat';
  const where = chat ? 'in the chat form' : 'with the contact';
  const began = chat ? 'the chat started' : 'the contact came in';
  hint.textContent = (m === 'ambiguous' ?
    `The email and mobile given ${where} were on two different records when ${began}, so ` +
    'neither was used.' : m === 'new' ?
    `The email or mobile given ${where} was on no record when ${began}.` :
    `The resident gave no email or mobile ${where}, so ${chat ? 'the chat' : 'the contact'} was matched to no ` +
    `record when ${chat ? 'it started' : 'it came in'}.`) +
    ' If they are on record, search for them and link the conversation to that record.';
  // Ambiguous: one press searches for what the resident typed, each finding one record. (For
  // `new`, the conversation's own record holds them: a search would find only that.)
  const given = m === 'ambiguous' ? [R.conv.customer.email, R.conv.customer.mobile].filter(Boolean) : [];
  $('r-match-search').replaceChildren(...given.map(v => {
    const b = el('button', 'btn btn-quiet', `Search for ${v}`);
    b.type = 'button';
    b.addEventListener('click', () => {
      $('r-q').value = v;
      search();
    });
    return b;
  }));

  $('r-vulnerable').textContent = rec.vulnerable ? 'Yes: take extra care' : 'No';
  $('r-vulnerable').classList.toggle('flag', !!rec.vulnerable);
  $('r-adjust').textContent = rec.reasonable_adjustments || 'None recorded';
  $('r-lang').textContent = language(rec.preferred_language);
  $('r-pchannel').textContent = rec.preferred_channel ? channelName(rec.preferred_channel) : 'No preference';
  $('r-since').textContent = when(rec.created_at);
  $('r-count').textContent = String(rec.conversations);

  const ids = $('r-identities');
  ids.replaceChildren(...(rec.identities || []).map(i => {
    const li = el('li');
    li.append(el('span', 'k', `${KIND[i.kind] || i.kind}: `));
    // A chat identity's value is the widget's visitor token: not for the screen.
    li.append(el('span', 'v', i.kind === 'chat' ? 'a returning browser' : i.value));
    li.append(el('span', i.verified ? 'ver yes' : 'ver', i.verified ? ' (verified)' : ' (not verified)'));
    // Mail to it came back for good (a delivery report matched to a reply we sent).
    if (i.bouncing_since) {
      li.append(el('span', 'bouncing', ` – mail to it bounces${i.bounce_reason ? ` (${i.bounce_reason})` : ''}: ` +
        'check it with the resident'));
    }
    // The resident texted STOP to this number: no reply is texted to it until they text START.
    if (i.sms_opted_out_at) {
      li.append(el('span', 'opted-out', ` – opted out of texts since ${when(i.sms_opted_out_at)}` +
        `${i.sms_opt_keyword ? ` (they sent ${i.sms_opt_keyword})` : ''}: replies by text are not sent`));
    }
    return li;
  }));
  $('r-identities-none').hidden = (rec.identities || []).length > 0;

  const links = $('r-links');
  links.replaceChildren(...(rec.links || []).map(l => {
    const li = el('li');
    const b = el('button', 'linkish', `${l.name || 'Name not known'} (customer ${l.customer})`);
    b.type = 'button';
    b.addEventListener('click', () => openRecord(l.customer, true));
    li.append(b, el('span', null, ` linked for review ${when(l.at)}`));
    if (l.note) li.append(el('span', 'note', `: “${l.note}”`));
    return li;
  }));
  $('r-links-box').hidden = (rec.links || []).length === 0;
  renderActions();
  fillEdit();
}

// What can be done from here depends on whether this is the conversation's customer.
function renderActions() {
  const other = !!(R.conv && R.rec && !isConvCustomer());
  const cu = R.conv && R.conv.customer;
  $('r-back').hidden = !(R.conv && cu && cu.id && !isConvCustomer());
  $('r-move').hidden = !other || R.confirming;
  $('r-confirm').hidden = !other || !R.confirming;
  $('r-same-box').hidden = !other || !cu || !cu.id;
  if (other && cu) {
    const convName = cu.name ? `${cu.name} (customer ${cu.id})` : `customer ${cu.id}`;
    $('r-same-with').textContent = `Link ${customerName(R.rec)} (customer ${R.rec.id}) with ${convName}, ` +
      'the open conversation\'s customer, for someone to review. Both records stay as they are: nothing is merged.';
    $('r-confirm-text').textContent = `Record conversation ${R.conv.reference || R.conv.id} as ` +
      `${customerName(R.rec)}'s (customer ${R.rec.id})? It is now on ${convName}'s record, and will move to this one.`;
  }
}

// ---------------------------------------------------------------- timeline
async function loadTimeline(gen, older) {
  const more = $('r-more');
  more.disabled = true;
  $('r-tl-state').textContent = older ? 'Loading older contacts…' : 'Loading past contacts…';
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (older && R.last) q.set('before', R.last);
  let page;
  try {
    page = await api('GET', `/api/customers/${encodeURIComponent(R.id)}/timeline?${q}`);
  } catch (e) {
    if (gen !== R.gen) return;
    more.disabled = false;
    $('r-tl-state').textContent = `Past contacts could not be loaded. ${e.message}`;
    more.hidden = false;
    more.textContent = older ? 'Show older contacts' : 'Try again';
    return;
  }
  if (gen !== R.gen) return;
  const list = $('r-timeline');
  const nodes = (page || []).map(timelineNode);
  list.append(...nodes);
  if (page && page.length) R.last = page[page.length - 1].conversation;
  R.more = !!page && page.length === PAGE;
  more.hidden = !R.more;
  more.disabled = false;
  more.textContent = 'Show older contacts';
  const shown = list.children.length;
  const all = R.rec && shown >= R.rec.conversations;
  $('r-tl-state').textContent = shown === 0 ? 'No past contacts you can see.' :
    `Showing the newest ${shown} contact${shown === 1 ? '' : 's'}` + (R.more ? '.' : all ? ' (all of them).' :
      ' (all you can see: the others are in queues you do not serve).');
  if (older) {
    hooks.say(nodes.length ? `${nodes.length} older contact${nodes.length === 1 ? '' : 's'} shown.` : 'No older contacts.');
    const first = nodes[0] && nodes[0].querySelector('button');
    (first || $('r-tl-h')).focus();
  }
}

function timelineNode(t) {
  const li = el('li', 'tl');
  li.dataset.conversation = t.conversation;
  const here = R.conv && String(R.conv.id) === String(t.conversation);
  const detailId = `r-tl-d-${t.conversation}`;
  const h = el('h5');
  const b = el('button', 'tl-toggle');
  b.type = 'button';
  b.setAttribute('aria-expanded', 'false');
  b.setAttribute('aria-controls', detailId);
  b.append(el('span', 't', `${t.reference} · ${channelName(t.channel)} · ${when(t.created_at)}` +
    (here ? ' (this conversation)' : '')));
  const w = t.wrap_up;
  b.append(el('span', 'd', `${STATUS[t.status] || t.status}, ${t.queue_name || t.queue || 'no queue'}, ` +
    `${t.messages} message${t.messages === 1 ? '' : 's'}` + (w && w.outcome_label ? `, ${w.outcome_label}` : '')));
  h.append(b);
  li.append(h);
  if (t.last) li.append(el('p', 'tl-last', t.last));
  const d = el('div', 'tl-detail');
  d.id = detailId;
  d.hidden = true;
  const facts = el('dl', 'facts');
  const fact = (k, v) => {
    const x = el('div');
    x.append(el('dt', null, k), el('dd', null, v));
    facts.append(x);
  };
  fact('Reference', t.reference);
  fact('Channel', channelName(t.channel));
  fact('Queue', t.queue_name || t.queue || 'None');
  fact('Status', STATUS[t.status] || t.status);
  fact('Opened', when(t.created_at));
  fact('Closed', t.closed_at ? when(t.closed_at) : 'Not closed');
  if (t.advisor) fact('Advisor', t.advisor);
  if (t.subject) fact('Subject', t.subject);
  if (w) {
    // How it was wrapped up: the queue's reason and outcome labels, the advisor's note.
    fact('Reason', w.reason_label || 'None given');
    fact('Outcome', w.outcome_label || 'None given');
    if (w.note) fact('Wrap-up note', w.note);
    fact('Wrapped up', when(w.at) + (w.by ? ` by ${w.by}` : ''));
  }
  const msgs = el('ol', 'thread tl-thread');
  msgs.setAttribute('aria-label', `Messages of ${t.reference}`);
  msgs.tabIndex = 0; // it scrolls: reachable from the keyboard
  const state = el('p', 'note');
  d.append(facts, state, msgs);
  li.append(d);
  let loaded = false;
  b.addEventListener('click', () => {
    const open = b.getAttribute('aria-expanded') !== 'true';
    b.setAttribute('aria-expanded', String(open));
    d.hidden = !open;
    if (open && !loaded) {
      loaded = true;
      loadMessages(t, msgs, state, 0, () => { loaded = false; });
    }
  });
  return li;
}

// A past conversation's messages, 1,000 a page (a longer thread gets "Show later messages").
async function loadMessages(t, list, state, after, failed) {
  const gen = R.gen;
  state.textContent = 'Loading the messages…';
  let r;
  try {
    r = await api('GET', `/api/conversations/${encodeURIComponent(t.conversation)}/messages?after=${after}`);
  } catch (e) {
    if (gen !== R.gen) return;
    state.textContent = e.status === 404 ? 'You cannot see this conversation\'s messages.' :
      `The messages could not be loaded. ${e.message} Close and open it again to retry.`;
    failed();
    return;
  }
  if (gen !== R.gen) return;
  const ms = r.messages || [];
  list.append(...ms.map(m => {
    const cls = m.from === 'customer' ? 'resident' : m.from;
    const li = el('li', `msg ${['resident', 'advisor', 'note'].includes(cls) ? cls : 'system'}`);
    const who = m.from === 'customer' ? customerName(R.rec) : m.from === 'advisor' ? (m.name || 'Advisor') :
      m.from === 'note' ? `Internal note${m.name ? ' by ' + m.name : ''}` : 'Switchboard';
    li.append(el('span', 'who', who), el('span', 'txt', m.text), el('span', 'meta', when(m.at)));
    return li;
  }));
  state.textContent = list.children.length ? '' : 'No messages.';
  const prev = list.parentNode.querySelector('.tl-later');
  if (prev) prev.remove();
  if (ms.length === 1000) {
    const later = el('button', 'btn btn-quiet tl-later', 'Show later messages');
    later.type = 'button';
    later.addEventListener('click', () => loadMessages(t, list, state, ms[ms.length - 1].seq, () => {}));
    list.after(later);
  }
}

// ---------------------------------------------------------------- search
async function search(ev) {
  if (ev) ev.preventDefault();
  const input = $('r-q');
  const q = input.value.trim();
  if (!check(input, !q ? 'Enter a name, email, phone number or reference' :
    q.length > 200 ? 'Search with at most 200 characters' : q.includes('&') ? 'Leave out the “&”' : '')) {
    input.focus();
    return;
  }
  const btn = $('r-search-btn');
  btn.disabled = true;
  let found;
  try {
    found = await api('GET', `/api/customers?q=${encodeURIComponent(q)}`);
  } catch (e) {
    btn.disabled = false;
    if (e.status === 401) return;
    check(input, `The search failed. ${e.message}`);
    input.focus();
    return;
  }
  btn.disabled = false;
  const list = $('r-results');
  list.replaceChildren(...found.map(c => {
    const li = el('li');
    const b = el('button', 'result');
    b.type = 'button';
    b.append(el('span', 't', customerName(c)));
    const ids = (c.identities || []).filter(i => i.kind !== 'chat').map(i => i.value);
    b.append(el('span', 'd', `Customer ${c.id}${ids.length ? ', ' + ids.join(', ') : ''}` +
      (c.vulnerable ? ', vulnerable' : '')));
    b.addEventListener('click', () => openRecord(c.id, true));
    li.append(b);
    return li;
  }));
  const n = found.length;
  const words = n === 0 ? `No customers found for “${q}”.` :
    `${n} customer${n === 1 ? '' : 's'} found for “${q}”${n === 20 ? ' (the first 20: search more exactly)' : ''}.`;
  $('r-results-h').hidden = false;
  $('r-results-count').textContent = words;
  hooks.say(words);
  if (n) $('r-results-h').focus();
  else input.focus();
}

// ---------------------------------------------------------------- create
async function create(ev) {
  ev.preventDefault();
  const name = $('r-new-name'), email = $('r-new-email'), phone = $('r-new-phone');
  const n = name.value.trim(), e = email.value.trim(), p = phone.value.trim();
  summary('r-new-error', '');
  const ok = [
    check(name, !n ? 'Enter the customer\'s name' : bytes(n) > 200 ? 'The name must be at most 200 characters' : ''),
    check(email, e && !/^[^@\s]+@[^@\s]+$/.test(e) ? 'Enter an email address like name@example.com, or leave it empty' : ''),
    check(phone, p && !/^[+(]?[0-9][0-9 ()-]{5,}$/.test(p) ? 'Enter a phone number like 07700 900123, or leave it empty' : '')
  ];
  const bad = [name, email, phone][ok.indexOf(false)];
  if (bad) { bad.focus(); return; }
  const body = { name: n };
  if (e) body.email = e;
  if (p) body.phone = p;
  let r;
  try {
    r = await api('POST', '/api/customers', body);
  } catch (x) {
    if (x.status === 409) {
      const box = summary('r-new-error', `This email or phone number is already on another customer's record ` +
        `(customer ${x.body.customer}), so nothing was created. If that is the caller, open their record and link ` +
        'the conversation to it.');
      const open = el('button', 'btn btn-quiet', `Open customer ${x.body.customer}`);
      open.type = 'button';
      open.addEventListener('click', () => openRecord(x.body.customer, true));
      box.append(open);
      for (const f of [email, phone]) if (f.value.trim()) check(f, 'Already on another customer\'s record: see above');
      (e ? email : phone).focus();
    } else if (x.status === 400 && /email/.test(x.message)) {
      check(email, 'Switchboard does not take this as an email address');
      email.focus();
    } else if (x.status === 400 && /phone/.test(x.message)) {
      check(phone, 'Switchboard does not take this as a phone number: give a UK number, or + and the country code');
      phone.focus();
    } else if (x.status !== 401) {
      summary('r-new-error', `The customer was not created. ${x.message}`);
      $('r-new-error').focus();
    }
    return;
  }
  for (const f of [name, email, phone]) f.value = '';
  $('r-create-box').open = false;
  hooks.say(`Customer ${n} created.`);
  await openRecord(r.id, true);
}

// ---------------------------------------------------------------- edit
function fillEdit() {
  if (!R.rec || $('r-edit-box').open) return;
  $('r-ed-name').value = R.rec.name || '';
  $('r-ed-vulnerable').checked = !!R.rec.vulnerable;
  $('r-ed-adjust').value = R.rec.reasonable_adjustments || '';
  $('r-ed-lang').value = R.rec.preferred_language || '';
  $('r-ed-channel').value = R.rec.preferred_channel || '';
  for (const f of ['r-ed-name', 'r-ed-adjust', 'r-ed-lang']) check($(f), '');
  summary('r-ed-error', '');
}
async function edit(ev) {
  ev.preventDefault();
  const rec = R.rec;
  if (!rec) return;
  const name = $('r-ed-name'), adj = $('r-ed-adjust'), lang = $('r-ed-lang');
  const n = name.value.trim(), a = adj.value.trim(), l = lang.value.trim();
  summary('r-ed-error', '');
  const ok = [
    check(name, !n && rec.name ? 'Enter the customer\'s name' : bytes(n) > 200 ? 'The name must be at most 200 characters' : ''),
    check(adj, a.length > 4000 ? 'Write at most 4,000 characters' : ''),
    check(lang, !LANG_RE.test(l) ? 'Enter a language code such as en, cy (Welsh), pl or pt-BR' : '')
  ];
  const bad = [name, adj, lang][ok.indexOf(false)];
  if (bad) { bad.focus(); return; }
  const ch = {};
  if (n !== (rec.name || '')) ch.name = n;
  if ($('r-ed-vulnerable').checked !== !!rec.vulnerable) ch.vulnerable = $('r-ed-vulnerable').checked;
  if (a !== (rec.reasonable_adjustments || '')) ch.reasonable_adjustments = a;
  if (l !== (rec.preferred_language || '')) ch.preferred_language = l;
  const pc = $('r-ed-channel').value || null;
  if (pc !== (rec.preferred_channel || null)) ch.preferred_channel = pc;
  if (!Object.keys(ch).length) {
    summary('r-ed-error', 'Nothing has changed: there is nothing to save.');
    $('r-ed-error').focus();
    return;
  }
  const gen = R.gen;
  let r;
  try {
    r = await api('PATCH', `/api/customers/${encodeURIComponent(rec.id)}`, ch);
  } catch (x) {
    if (x.status !== 401) {
      summary('r-ed-error', `The details were not saved. ${x.message}`);
      $('r-ed-error').focus();
    }
    return;
  }
  if (gen !== R.gen) return;
  Object.assign(rec, r);
  $('r-edit-box').open = false;
  renderRecord();
  if (isConvCustomer()) hooks.customerChanged(R.conv.id, { id: rec.id, name: rec.name });
  hooks.say('The customer\'s details are saved.');
  $('r-name').focus();
}

// ---------------------------------------------------------------- link the conversation / two records
function askMove() {
  R.confirming = true;
  renderActions();
  $('r-confirm-text').focus();
}
function cancelMove() {
  R.confirming = false;
  renderActions();
  $('r-move').focus();
}
async function move() {
  const conv = R.conv, rec = R.rec, yes = $('r-confirm-yes');
  if (!conv || !rec || yes.disabled) return;
  yes.disabled = true;
  try {
    await api('POST', `/api/conversations/${encodeURIComponent(conv.id)}/customer`, { customer: +rec.id });
  } catch (x) {
    if (x.status !== 401) {
      panelError(`The conversation was not linked. ${x.message}`);
      $('r-error').focus();
    }
    return;
  } finally {
    yes.disabled = false;
  }
  R.confirming = false;
  // desk.js updates the conversation and calls show() again, which then finds this
  // record already its customer's (and does not load it as well).
  const still = R.conv && R.conv.id === conv.id;
  if (still) {
    R.key = `${conv.id}:${rec.id}`;
    R.conv.customer = { id: rec.id, name: rec.name, match: 'manual' };
  }
  hooks.customerChanged(conv.id, { id: rec.id, name: rec.name, match: 'manual' });
  hooks.say(`Conversation ${conv.reference || conv.id} is now recorded as ${customerName(rec)}'s.`);
  // Again: the timeline and the count of contacts now include this conversation.
  if (still) await openRecord(rec.id, true);
}
async function linkSame(ev) {
  ev.preventDefault();
  const conv = R.conv, rec = R.rec;
  const why = $('r-same-note');
  const w = why.value.trim();
  if (!check(why, !w ? 'Say why they may be the same person' : bytes(w) > 2000 ? 'Write at most 2,000 characters' : '')) {
    why.focus();
    return;
  }
  if (!conv || !conv.customer || !rec) return;
  const gen = R.gen;
  try {
    await api('POST', `/api/customers/${encodeURIComponent(rec.id)}/links`, { customer: +conv.customer.id, note: w });
  } catch (x) {
    if (x.status !== 401) {
      check(why, `The records were not linked. ${x.message}`);
      why.focus();
    }
    return;
  }
  if (gen !== R.gen) return;
  why.value = '';
  $('r-same-box').open = false;
  hooks.say(`Linked for review with customer ${conv.customer.id}. Nothing was merged.`);
  await openRecord(rec.id, true);
}

// ---------------------------------------------------------------- exported
// hooks: say(text), sessionGone(), customerChanged(conversation, {id, name, match?}).
export function init(h) {
  hooks = { ...hooks, ...h };
  $('r-search-form').addEventListener('submit', search);
  $('r-create-form').addEventListener('submit', create);
  $('r-edit-form').addEventListener('submit', edit);
  $('r-edit-box').addEventListener('toggle', () => { if (!$('r-edit-box').open) fillEdit(); });
  $('r-same-form').addEventListener('submit', linkSame);
  $('r-more').addEventListener('click', () => loadTimeline(R.gen, R.last !== ''));
  $('r-move').addEventListener('click', askMove);
  $('r-confirm-yes').addEventListener('click', move);
  $('r-confirm-no').addEventListener('click', cancelMove);
  $('r-back').addEventListener('click', () => {
    if (R.conv && R.conv.customer) openRecord(R.conv.customer.id, true);
  });
}

// The conversation the desk shows now (null: none). Cheap when nothing changed: desk.js
// calls it on every render of the conversation view.
export function show(conv) {
  const cu = conv && conv.customer && conv.customer.id ? conv.customer : null;
  const key = conv ? `${conv.id}:${cu ? cu.id : ''}` : '';
  R.conv = conv ? { id: conv.id, reference: conv.reference, channel: conv.channel, customer: cu ? { ...cu } : null } :
    null;
  if (key === R.key) {
    if (R.rec) renderActions();
    return;
  }
  R.key = key;
  if (cu) {
    openRecord(cu.id, false);
  } else if (!conv) {
    // No conversation: keep a record found by search, else say there is none.
    if (R.rec) renderRecord();
    else noRecord('Open a conversation to see its customer, or use Find a customer.');
  } else {
    R.gen++;
    R.id = null;
    R.rec = null;
    noRecord('No customer is known for this conversation yet. Use Find a customer to search for them or create one.');
  }
}
// A customer opened from elsewhere on the desk (a call's screen pop): their record, focused;
// with conversation, that past contact opened in their timeline and focused when it is on
// its first page.
export async function openCustomer(id, conversation) {
  await openRecord(id, !conversation);
  if (!conversation || String(R.id) !== String(id)) return;
  const li = [...$('r-timeline').children].find(x => x.dataset.conversation === String(conversation));
  const b = li && li.querySelector('.tl-toggle');
  if (!b) { $('r-name').focus(); return; }
  if (b.getAttribute('aria-expanded') !== 'true') b.click();
  b.focus();
}
function noRecord(text) {
  $('r-loading').hidden = true;
  $('r-body').hidden = true;
  $('r-none').hidden = false;
  $('r-none').textContent = text;
}

// Sign-out: forget everything shown; answers still on their way are dropped.
export function reset() {
  R.gen++;
  R.key = '';
  R.conv = null;
  R.id = null;
  R.rec = null;
  R.confirming = false;
  $('r-timeline').replaceChildren();
  $('r-results').replaceChildren();
  $('r-results-h').hidden = true;
  $('r-results-count').textContent = '';
  // Nothing a customer said stays in a form for whoever signs in next.
  for (const f of ['r-q', 'r-new-name', 'r-new-email', 'r-new-phone', 'r-same-note', 'r-ed-name', 'r-ed-adjust',
    'r-ed-lang']) {
    $(f).value = '';
    check($(f), '');
  }
  for (const f of ['r-name', 'r-identities', 'r-links']) $(f).replaceChildren();
  summary('r-new-error', '');
  summary('r-ed-error', '');
  $('r-create-box').open = false;
  $('r-edit-box').open = false;
  $('r-same-box').open = false;
  panelError('');
  noRecord('Open a conversation to see its customer, or use Find a customer.');
}
