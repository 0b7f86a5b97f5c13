// Switchboard canned responses (supervisors and admins) and wrap-up codes (admins; supervisors
// read the active ones), over the REST endpoints of docs/api.md "Canned responses" and
// "Wrap-up codes": lists, a form to add or change each, making one inactive or active again;
// and the wrap-up report (docs/api.md, GET /api/reports/dispositions).
// Errors the server ties to fields ({"fields"}) are shown on those fields; everything from
// the server is put in the page as text.
import { $, el, say, fieldError, api, pageStaff, showView, showSignedOut, showForbidden } from './common.js';

const S = { me: null, council: '', queues: [], responses: [], editing: null, codes: null, code: null, back: null };
const MANAGERS = ['supervisor', 'admin'];

function signedOut(note) {
  showSignedOut('settings', 'settings.html', note, 'Sign in – Switchboard canned responses and wrap-up codes');
}
function summary(prefix, text) {
  $(`${prefix}-error-text`).textContent = text || '';
  $(`${prefix}-error`).hidden = !text;
  if (text) $(`${prefix}-error`).scrollIntoView({ block: 'nearest' });
}
// An answer that is not a success: signed out, forbidden, or a message in the summary prefix.
function refused(r, prefix) {
  if (r.status === 401) signedOut('Your session has ended. Sign in again to carry on.');
  else if (r.status === 403) summary(prefix, 'Your account may not make this change (your role may have changed). Reload the page.');
  else summary(prefix, r.status === 0 ? 'Switchboard cannot be reached. Check your connection and try again.'
    : `That did not work: ${r.body.error || `the server answered ${r.status}`}.`);
}
const queueName = id => (S.queues.find(q => q.id === id) || {}).name || `Queue ${id}`;
// Fills a select with [value, text] pairs, keeping the choice when it is still there.
function options(select, list) {
  const was = select.value;
  select.replaceChildren(...list.map(([v, t]) => {
    const o = el('option', null, t);
    o.value = v;
    return o;
  }));
  if (list.some(([v]) => v === was)) select.value = was;
}
function button(text, what, cls, onclick) {
  const b = el('button', `btn ${cls || 'btn-quiet'}`, text);
  b.type = 'button';
  b.append(el('span', 'vh', ` ${what}`));
  b.addEventListener('click', () => { S.back = b; onclick(); });
  return b;
}
// Each field's error from a 400 {"fields": {name: why}}; true when one was shown.
function fieldErrors(prefix, names, fields) {
  let first = null;
  for (const n of names) {
    const input = $(`${prefix}-${n}`);
    const why = fields && fields[n] ? `${n[0].toUpperCase()}${n.slice(1)}: ${fields[n]}` : '';
    fieldError(input, `${prefix}-${n}-err`, why);
    if (why && !first) first = input;
  }
  if (first) first.focus();
  return !!first;
}

// The server's {"fields"}: on their fields, and in the summary those the form has none for.
function serverFields(prefix, names, fields) {
  const other = Object.entries(fields).filter(([n]) => !names.includes(n)).map(([n, why]) => `${n}: ${why}`);
  const known = Object.keys(fields).some(n => names.includes(n));
  summary(prefix, [known ? 'Check the fields marked below.' : '', ...other].filter(Boolean).join(' '));
  fieldErrors(prefix, names, fields);
}

// A row's actions: Change, and Make inactive or Make active, named after the row.
function rowActions(td, name, active, edit, setActive) {
  td.append(button('Change', name, null, edit),
    active ? button('Make inactive', name, 'btn-warn', () => setActive(false))
      : button('Make active', name, null, () => setActive(true)));
}
// After Cancel: focus back on the button that opened the form, else on the heading.
function focusBack(heading) {
  const back = S.back;
  S.back = null;
  if (back && back.isConnected) back.focus(); else $(heading).focus();
}
// After a save: the list again, the result said, focus on the row saved.
async function saved(reload, text, row, heading) {
  await reload();
  say(text);
  const th = document.querySelector(`${row} th`);
  if (th) { th.tabIndex = -1; th.focus(); } else $(heading).focus();
}
// Makes a row active or inactive (PATCH path {active}); conflict: what a 409 means.
async function setActiveAt(path, name, active, reload, row, conflict) {
  const r = await api('PATCH', path, { active });
  if (r.status === 409 && conflict) { summary('page', conflict); return; }
  if (r.status !== 200) { refused(r, 'page'); return; }
  summary('page', '');
  await reload();
  say(`“${name}” is now ${active ? 'active' : 'inactive'}.`);
  const b = document.querySelector(`${row} td:last-child button:last-child`);
  if (b) b.focus();
}

// ---------------------------------------------------------------- canned responses
const CANNED_FIELDS = ['title', 'shortcut', 'queue', 'body'];

function renderCanned() {
  const want = $('cf-queue').value;
  const list = S.responses.filter(r => want === '' || (want === 'global' ? r.queue == null : String(r.queue) === want));
  $('canned').replaceChildren(...list.map(r => {
    const tr = el('tr');
    tr.dataset.id = String(r.id);
    const th = el('th', null, r.title);
    th.scope = 'row';
    const acts = el('td');
    rowActions(acts, r.title, r.active, () => { cannedForm(r); $('cr-h').focus(); },
      on => setActiveAt(`/api/canned/${r.id}`, r.title, on, loadCanned, `#canned tr[data-id="${r.id}"]`,
        `“${r.title}” cannot be made active: another active response has the shortcut /${r.shortcut}.`));
    const when = r.updated_at ? new Date(r.updated_at).toLocaleString('en-GB') : '';
    tr.append(th, el('td', null, r.shortcut ? `/${r.shortcut}` : 'None'),
      el('td', null, r.queue == null ? 'Every queue' : queueName(r.queue)),
      el('td', 'detail', r.body), el('td', null, r.active ? 'Active' : 'Inactive'),
      el('td', null, [when, r.updated_by ? `by ${r.updated_by}` : ''].filter(Boolean).join(' ') || 'Not known'), acts);
    return tr;
  }));
  const n = list.length;
  $('canned-note').textContent = n ? `${n} ${n === 1 ? 'response' : 'responses'} shown, by title.` : 'No responses match.';
}
async function loadCanned() {
  const r = await api('GET', `/api/canned${$('cf-inactive').checked ? '?all=1' : ''}`);
  if (r.status !== 200 || !Array.isArray(r.body.responses)) {
    refused(r, 'page');
    return false;
  }
  S.council = r.body.council || '';
  S.queues = r.body.queues || [];
  S.responses = r.body.responses;
  const qs = S.queues.map(q => [String(q.id), q.name]);
  options($('cf-queue'), [['', 'All queues'], ['global', 'Every queue (shared responses only)'], ...qs]);
  options($('cr-queue'), [['', 'Every queue'], ...qs]);
  options($('kf-queue'), qs);
  renderCanned();
  return true;
}
function cannedForm(r) {
  S.editing = r;
  for (const n of CANNED_FIELDS) fieldError($(`cr-${n}`), `cr-${n}-err`, '');
  summary('cr', '');
  $('cr-title').value = r ? r.title : '';
  $('cr-shortcut').value = r && r.shortcut ? r.shortcut : '';
  $('cr-queue').value = r && r.queue != null ? String(r.queue) : '';
  $('cr-body').value = r ? r.body : '';
  $('cr-active').checked = r ? r.active : true;
  $('cr-h').textContent = r ? `Change “${r.title}”` : 'Add a canned response';
  $('cr-save').textContent = r ? 'Save changes' : 'Add response';
  $('cr-cancel').hidden = !r;
}
async function saveCanned(ev) {
  ev.preventDefault();
  summary('cr', '');
  const title = $('cr-title').value.trim(), body = $('cr-body').value.trim();
  const shortcut = $('cr-shortcut').value.trim();
  const local = {
    title: title ? '' : 'enter a title',
    shortcut: !shortcut || /^[a-z0-9_-]{1,32}$/.test(shortcut) ? '' : 'use lower-case letters, digits, - and _ only',
    body: body ? '' : 'enter the text'
  };
  if (fieldErrors('cr', CANNED_FIELDS, local)) return;
  const o = { title, body, shortcut: shortcut || null, queue: $('cr-queue').value ? Number($('cr-queue').value) : null, active: $('cr-active').checked };
  const editing = S.editing;
  const r = editing ? await api('PATCH', `/api/canned/${editing.id}`, o) : await api('POST', '/api/canned', o);
  if (r.status === 200 || r.status === 201) {
    cannedForm(null);
    await saved(loadCanned, `${editing ? 'Saved' : 'Added'} “${r.body.title}”.`, `#canned tr[data-id="${r.body.id}"]`, 'canned-h');
  } else if (r.status === 400 && r.body.fields) {
    serverFields('cr', CANNED_FIELDS, r.body.fields);
  } else if (r.status === 409) {
    fieldErrors('cr', CANNED_FIELDS, { shortcut: 'another active response has this shortcut: choose another' });
  } else if (r.status === 404) {
    summary('cr', 'That response no longer exists. The list has been refreshed.');
    cannedForm(null);
    loadCanned();
  } else refused(r, 'cr');
}

// ---------------------------------------------------------------- wrap-up codes
const CODE_FIELDS = ['code', 'label', 'position'];
const KIND_TEXT = { reason: 'Reason', outcome: 'Outcome' };
const isAdmin = () => S.me && S.me.role === 'admin';

function renderCodes() {
  const c = S.codes;
  const list = c ? [...(c.reason || []), ...(c.outcome || [])] : [];
  $('codes-caption').textContent = c ? `Wrap-up codes of ${queueName(c.queue)}` : 'Wrap-up codes';
  $('codes').replaceChildren(...list.map(k => {
    const tr = el('tr');
    tr.dataset.id = String(k.id);
    const th = el('th', null, k.label);
    th.scope = 'row';
    const acts = el('td');
    if (isAdmin()) {
      rowActions(acts, k.label, k.active, () => { codeForm(k); $('kd-h').focus(); },
        on => setActiveAt(`/api/dispositions/${k.id}`, k.label, on, loadCodes, `#codes tr[data-id="${k.id}"]`));
    }
    tr.append(th, el('td', null, KIND_TEXT[k.kind] || k.kind), el('td', null, k.code),
      el('td', null, k.position), el('td', null, k.active ? 'Active' : 'Inactive'), acts);
    return tr;
  }));
  const n = list.length;
  $('codes-note').textContent = !c ? '' : n ? `${n} ${n === 1 ? 'code' : 'codes'}: reasons, then outcomes, in list order.`
    : 'This queue has no wrap-up codes yet.';
}
async function loadCodes() {
  const q = $('kf-queue').value;
  if (!q) { S.codes = null; renderCodes(); return true; }
  const r = await api('GET', `/api/queues/${q}/dispositions${isAdmin() ? '?all=1' : ''}`);
  if (r.status !== 200) { refused(r, 'page'); return false; }
  S.codes = r.body;
  renderCodes();
  return true;
}
function codeForm(k) {
  S.code = k;
  for (const n of CODE_FIELDS) fieldError($(`kd-${n}`), `kd-${n}-err`, '');
  summary('kd', '');
  $('kd-code').value = k ? k.code : '';
  $('kd-code').readOnly = !!k;
  $('kd-label').value = k ? k.label : '';
  $('kd-position').value = k ? String(k.position) : '';
  $('kd-active').checked = k ? k.active : true;
  $(`kd-kind-${k ? k.kind : 'reason'}`).checked = true;
  for (const i of document.querySelectorAll('#kd-kind-set input')) i.disabled = !!k;
  $('kd-h').textContent = k ? `Change “${k.label}”` : 'Add a wrap-up code';
  $('kd-save').textContent = k ? 'Save changes' : 'Add code';
  $('kd-cancel').hidden = !k;
}
async function saveCode(ev) {
  ev.preventDefault();
  summary('kd', '');
  const q = $('kf-queue').value;
  if (!q) { summary('kd', 'Choose a queue first.'); $('kf-queue').focus(); return; }
  const code = $('kd-code').value.trim(), label = $('kd-label').value.trim(), pos = $('kd-position').value.trim();
  const local = {
    code: S.code || /^[a-z0-9][a-z0-9_-]{0,63}$/.test(code) ? '' : code ? 'use lower-case letters, digits, - and _, starting with a letter or digit' : 'enter a code',
    label: label ? '' : 'enter a label',
    position: !pos || /^-?\d{1,9}$/.test(pos) ? '' : 'enter a whole number, or leave it empty'
  };
  if (fieldErrors('kd', CODE_FIELDS, local)) return;
  const o = { label, active: $('kd-active').checked };
  if (pos) o.position = Number(pos);
  const editing = S.code;
  if (!editing) {
    o.code = code;
    o.kind = document.querySelector('input[name="kd-kind"]:checked').value;
  }
  const r = editing ? await api('PATCH', `/api/dispositions/${editing.id}`, o)
    : await api('POST', `/api/queues/${q}/dispositions`, o);
  if (r.status === 200 || r.status === 201) {
    codeForm(null);
    await saved(loadCodes, editing ? `Saved “${r.body.label}”.` : `Added “${r.body.label}” to ${queueName(Number(q))}.`,
      `#codes tr[data-id="${r.body.id}"]`, 'codes-h');
  } else if (r.status === 400 && r.body.fields) {
    serverFields('kd', CODE_FIELDS, r.body.fields);
  } else if (r.status === 409) {
    fieldErrors('kd', CODE_FIELDS, { code: 'this queue has that code already' });
  } else refused(r, 'kd');
}

// ---------------------------------------------------------------- wrap-up report
function reportTable(q) {
  const wrap = el('div', 'table-wrap');
  const t = el('table', 'accounts');
  t.append(el('caption', null, `${q.name || 'No queue'}: ${q.wrapped_up} wrapped up`));
  const head = el('tr');
  for (const h of ['Reason or outcome', 'Kind', 'Conversations', 'Share']) {
    const th = el('th', null, h);
    th.scope = 'col';
    head.append(th);
  }
  const thead = el('thead');
  thead.append(head);
  const body = el('tbody');
  for (const [kind, list] of [['reason', q.reasons], ['outcome', q.outcomes]]) {
    for (const c of list || []) {
      const tr = el('tr');
      const label = c.code == null ? `No ${kind} given` : c.active ? c.label : `${c.label} (inactive)`;
      const th = el('th', null, label);
      th.scope = 'row';
      tr.append(th, el('td', null, KIND_TEXT[kind]), el('td', null, c.count),
        el('td', null, q.wrapped_up ? `${Math.round(c.count * 100 / q.wrapped_up)}%` : ''));
      body.append(tr);
    }
  }
  t.append(thead, body);
  wrap.append(t);
  return wrap;
}
async function loadReport(announce) {
  summary('rp', '');
  const from = $('rp-from').value, to = $('rp-to').value, q = $('rp-queue').value;
  if (!from !== !to) {
    summary('rp', 'Choose both days, or neither for the last 7 days.');
    $(from ? 'rp-to' : 'rp-from').focus();
    return;
  }
  const p = new URLSearchParams();
  if (from) { p.set('from', from); p.set('to', to); }
  if (q) p.set('queue', q);
  const r = await api('GET', `/api/reports/dispositions?${p}`);
  if (r.status === 400) {
    summary('rp', `The report cannot be shown: ${r.body.error}.`);
    $('rp-from').focus();
    return;
  }
  if (r.status !== 200) { refused(r, 'rp'); return; }
  const b = r.body;
  $('rp-from').value = b.from;
  $('rp-to').value = b.to;
  const text = `${b.wrapped_up} ${b.wrapped_up === 1 ? 'conversation' : 'conversations'} wrapped up from ${b.from} to ${b.to}` +
    ` (${b.timezone} days)${b.queue ? ` in ${queueName(b.queue)}` : ''}.`;
  $('report-note').textContent = text;
  $('report').replaceChildren(...b.queues.map(reportTable));
  if (announce) say(text);
}

// ---------------------------------------------------------------- start
async function init() {
  $('canned-filter').addEventListener('submit', ev => { ev.preventDefault(); summary('page', ''); loadCanned(); });
  $('cf-queue').addEventListener('change', renderCanned);
  $('cr-form').addEventListener('submit', saveCanned);
  $('cr-cancel').addEventListener('click', () => { cannedForm(null); focusBack('canned-h'); });
  $('codes-filter').addEventListener('submit', ev => { ev.preventDefault(); summary('page', ''); loadCodes(); });
  $('kf-queue').addEventListener('change', () => { summary('page', ''); codeForm(null); loadCodes(); });
  $('kd-form').addEventListener('submit', saveCode);
  $('kd-cancel').addEventListener('click', () => { codeForm(null); focusBack('codes-h'); });
  $('report-form').addEventListener('submit', ev => { ev.preventDefault(); loadReport(true); });
  const me = await pageStaff(signedOut);
  if (!me) return;
  S.me = me;
  if (!MANAGERS.includes(me.role)) {
    showForbidden('settings', 'Supervisors and admins only – Switchboard canned responses and wrap-up codes');
    return;
  }
  showView('settings', 'settings');
  $('kd-panel').hidden = !isAdmin();
  $('codes-admins').hidden = isAdmin();
  if (await loadCanned()) {
    await loadCodes();
    options($('rp-queue'), [['', 'All queues'], ...S.queues.map(q => [String(q.id), q.name])]);
    await loadReport(false);
    $('settings-h').focus();
  }
}
init();
