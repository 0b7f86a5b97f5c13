// Switchboard staff accounts (admins only), over the REST endpoints of docs/api.md "Staff
// accounts": a table of accounts, a create form, changing name, role, queues and capacities, resetting a
// password (the one-time password is shown once) and disabling or enabling, each confirmed;
// an account's phone extension (a call ringing it pops on their desk, docs/voice.md).
// Errors the server ties to a field ({"field"}) are shown on that field.
import { $, el, say, fieldError, api, pageStaff, showView, showSignedOut, showForbidden, ROLE_TEXT, channelName } from './common.js';

const A = { me: null, accounts: [], queues: [], channels: [], editing: null, back: null };

function signedOut(note) {
  if ($('confirm').open) $('confirm').close();
  showSignedOut('admin', 'admin.html', note, 'Sign in – Switchboard administration');
}
function forbidden() {
  showForbidden('admin', 'Admins only – Switchboard administration');
}
function summary(prefix, text) {
  $(`${prefix}-error-text`).textContent = text || '';
  $(`${prefix}-error`).hidden = !text;
}

// An answer that is not a success: signed out, forbidden, or a message for the page.
function refused(r, prefix) {
  if (r.status === 401) signedOut('Your session has ended. Sign in again to carry on.');
  else if (r.status === 403 && /admins/.test(r.body.error || '')) forbidden();
  else {
    summary(prefix, r.status === 0 ? 'Switchboard cannot be reached. Check your connection and try again.'
      : `That did not work: ${r.body.error || `the server answered ${r.status}`}.`);
    $(`${prefix}-error`).scrollIntoView({ block: 'nearest' });
  }
}

// ---------------------------------------------------------------- the list
function queueNames(ids) {
  const names = A.queues.filter(q => ids.includes(q.id)).map(q => q.name);
  return names.length ? names.join(', ') : 'None';
}
// An account's own capacities ({channel: n}); the channels' defaults apply to the rest.
function capacityText(cap) {
  const own = A.channels.filter(c => cap && cap[c.channel] !== undefined)
    .map(c => `${channelName(c.channel)} ${cap[c.channel]}`);
  return own.length ? own.join(', ') : 'Defaults';
}
function button(text, who, cls, onclick) {
  const b = el('button', `btn ${cls || 'btn-quiet'}`, text);
  b.type = 'button';
  b.append(el('span', 'vh', ` ${who}`));
  b.addEventListener('click', () => { A.back = b; onclick(); });
  return b;
}
function renderAccounts() {
  $('accounts').replaceChildren(...A.accounts.map(a => {
    const tr = el('tr');
    tr.dataset.login = a.login;
    const acts = el('td');
    acts.append(button('Change', a.login, null, () => openEdit(a)),
      button('Reset password', a.login, null, () => resetPassword(a)));
    if (a.id === A.me.staff) acts.append(el('span', 'note', 'This is you'));
    else if (a.disabled) acts.append(button('Enable', a.login, null, () => setDisabled(a, false)));
    else acts.append(button('Disable', a.login, 'btn-warn', () => setDisabled(a, true)));
    const th = el('th', null, a.login);
    th.scope = 'row';
    tr.append(th, el('td', null, a.name), el('td', null, ROLE_TEXT[a.role] || a.role),
      el('td', null, queueNames(a.queues || [])), el('td', null, capacityText(a.capacity)),
      el('td', null, a.disabled ? 'Disabled' : 'Enabled'),
      el('td', null, a.last_sign_in ? new Date(a.last_sign_in).toLocaleString('en-GB') : 'Not known'), acts);
    return tr;
  }));
}
async function load() {
  const [s, q, c] = await Promise.all([api('GET', '/api/staff'), api('GET', '/api/queues'), api('GET', '/api/channels')]);
  for (const r of [s, q, c]) {
    if (r.status !== 200) {
      refused(r, 'page');
      return false;
    }
  }
  A.accounts = s.body;
  A.queues = q.body;
  A.channels = c.body;
  renderAccounts();
  queueChecks('c', new Set([...document.querySelectorAll('#c-queue-list input:checked')].map(i => Number(i.value))));
  return true;
}

// ---------------------------------------------------------------- forms
function roleOptions(select) {
  select.replaceChildren(...Object.entries(ROLE_TEXT).map(([v, t]) => {
    const o = el('option', null, t);
    o.value = v;
    return o;
  }));
}
function queueChecks(prefix, chosen) {
  const list = $(`${prefix}-queue-list`);
  list.replaceChildren(...A.queues.map(q => {
    const d = el('div', 'check');
    const i = el('input');
    i.type = 'checkbox';
    i.id = `${prefix}-q-${q.id}`;
    i.value = String(q.id);
    i.checked = chosen.has(q.id);
    const l = el('label', null, q.active ? q.name : `${q.name} (inactive)`);
    l.htmlFor = i.id;
    d.append(i, l);
    return d;
  }));
  if (!A.queues.length) list.append(el('p', 'note', 'There are no queues yet.'));
}
function capacityInputs(cap) {
  $('e-capacity-list').replaceChildren(...A.channels.map(c => {
    const d = el('div', 'field');
    const id = `e-cap-${c.channel}`;
    const l = el('label', null, channelName(c.channel));
    l.htmlFor = id;
    const hint = el('p', 'hint', `Default ${c.default_capacity}`);
    hint.id = `${id}-hint`;
    const err = el('p', 'field-error');
    err.id = `${id}-err`;
    err.hidden = true;
    const i = el('input');
    i.id = id;
    i.type = 'number';
    i.min = '0';
    i.max = '50';
    i.step = '1';
    i.inputMode = 'numeric';
    i.autocomplete = 'off';
    i.dataset.channel = c.channel;
    i.setAttribute('aria-describedby', hint.id);
    i.value = cap && cap[c.channel] !== undefined ? String(cap[c.channel]) : '';
    d.append(l, hint, err, i);
    return d;
  }));
}
// The capacities that changed: {channel: n, or null for the default}; null when one is wrong
// (shown on its field).
function changedCapacity(a) {
  const out = {};
  for (const i of document.querySelectorAll('#e-capacity-list input')) {
    const ch = i.dataset.channel, v = i.value.trim();
    const err = `${i.id}-err`;
    if (i.validity.badInput || (v !== '' && (!/^\d{1,2}$/.test(v) || Number(v) > 50))) {
      fieldError(i, err, `Enter a whole number from 0 to 50 for ${channelName(ch)}, or leave it empty for the default`);
      i.setAttribute('aria-describedby', `${err} ${i.id}-hint`);
      i.focus();
      return null;
    }
    fieldError(i, err, '');
    i.setAttribute('aria-describedby', `${i.id}-hint`);
    const now = v === '' ? null : Number(v);
    const was = a.capacity && a.capacity[ch] !== undefined ? a.capacity[ch] : null;
    if (now !== was) out[ch] = now;
  }
  return out;
}
function capacityError(text) {
  const e = $('e-capacity-err');
  e.textContent = text || '';
  e.hidden = !text;
  $('e-capacity').setAttribute('aria-describedby', [text ? e.id : '', 'e-capacity-hint'].filter(Boolean).join(' '));
}
function chosenQueues(prefix) {
  return [...document.querySelectorAll(`#${prefix}-queue-list input:checked`)].map(i => Number(i.value));
}
// The fieldset of queues is described by its error (aria-invalid does not belong on a group).
function queuesError(prefix, text) {
  const e = $(`${prefix}-queues-err`);
  e.textContent = text || '';
  e.hidden = !text;
  const fs = $(`${prefix}-queues`);
  const hint = prefix === 'e' ? 'e-queues-hint' : '';
  fs.setAttribute('aria-describedby', [text ? e.id : '', hint].filter(Boolean).join(' '));
  if (!fs.getAttribute('aria-describedby')) fs.removeAttribute('aria-describedby');
}
const FIELDS = {
  c: { login: 'c-login', name: 'c-name', role: 'c-role', password: 'c-password' },
  e: { name: 'e-name', role: 'e-role', extension: 'e-extension' }
};
function clearErrors(prefix) {
  summary(prefix === 'c' ? 'create' : 'edit', '');
  for (const id of Object.values(FIELDS[prefix])) fieldError($(id), `${id}-err`, '');
  queuesError(prefix, '');
  if (prefix === 'e') {
    capacityError('');
    $('e-extension').setAttribute('aria-describedby', 'e-extension-hint');
  }
}
// Puts the server's error on its field (and focus there); false when it names none we show.
function onField(prefix, field, text) {
  if (field === 'capacity' && prefix === 'e') {
    capacityError(text);
    ($('e-capacity-list').querySelector('input') || $('e-capacity')).focus();
    return true;
  }
  if (field === 'queues') {
    queuesError(prefix, text);
    ($(`${prefix}-queue-list`).querySelector('input') || $(`${prefix}-queues`)).focus();
    return true;
  }
  const id = FIELDS[prefix][field];
  if (!id) return false;
  if (field === 'password') { $('c-pw-set').checked = true; $('c-password-field').hidden = false; }
  fieldError($(id), `${id}-err`, text);
  // The extension keeps its hint (what the phone system calls it) beside its error.
  if (field === 'extension') $(id).setAttribute('aria-describedby', `${id}-err e-extension-hint`);
  $(id).focus();
  return true;
}
function sentence(s) {
  s = String(s || '');
  return s ? s[0].toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.') : s;
}

async function create(ev) {
  ev.preventDefault();
  clearErrors('c');
  const login = $('c-login').value.trim(), name = $('c-name').value.trim();
  const choose = $('c-pw-set').checked;
  if (!login) return onField('c', 'login', 'Enter a login');
  if (!/^[A-Za-z0-9._@-]+$/.test(login)) return onField('c', 'login', 'A login may hold only letters, digits and . _ @ -');
  if (!name) return onField('c', 'name', 'Enter their name');
  if (choose && !$('c-password').value) return onField('c', 'password', 'Enter a password, or choose to make a one-time password');
  const body = { login, name, role: $('c-role').value, queues: chosenQueues('c') };
  if (choose) body.password = $('c-password').value;
  const btn = $('create-btn');
  btn.disabled = true;
  const r = await api('POST', '/api/staff', body);
  btn.disabled = false;
  if (r.status === 201) {
    $('create-form').reset();
    $('c-password-field').hidden = true;
    await load();
    if (r.body.password) showPassword(`Account ${login} is created. Their one-time password:`, r.body.password);
    else say(`Account ${login} is created.`);
    return;
  }
  if ((r.status === 400 || r.status === 409) && onField('c', r.body.field, sentence(r.body.error))) return;
  refused(r, 'create');
}

function openEdit(a) {
  A.editing = a;
  clearErrors('e');
  $('edit-h').textContent = `Change ${a.login}`;
  $('e-name').value = a.name;
  $('e-role').value = a.role;
  $('e-extension').value = a.extension || '';
  queueChecks('e', new Set(a.queues || []));
  capacityInputs(a.capacity);
  $('edit').hidden = false;
  $('edit-h').focus();
}
function closeEdit() {
  $('edit').hidden = true;
  A.editing = null;
  const login = A.back && A.back.querySelector('.vh') ? A.back.querySelector('.vh').textContent.trim() : '';
  const row = login && [...document.querySelectorAll('#accounts tr')].find(tr => tr.dataset.login === login);
  const again = row && row.querySelector('button');
  (again || $('admin-h')).focus();
}
async function saveEdit(ev) {
  ev.preventDefault();
  const a = A.editing;
  if (!a) return;
  clearErrors('e');
  const name = $('e-name').value.trim();
  if (!name) return onField('e', 'name', 'Enter their name');
  const body = {};
  if (name !== a.name) body.name = name;
  if ($('e-role').value !== a.role) body.role = $('e-role').value;
  // The extension: checked by the server (letters, digits and _.@+-; one account each).
  const ext = $('e-extension').value.trim();
  if (ext !== (a.extension || '')) body.extension = ext;
  const qs = chosenQueues('e');
  if (qs.join(',') !== [...(a.queues || [])].sort((x, y) => x - y).join(',')) body.queues = qs;
  const cap = changedCapacity(a);
  if (!cap) return;
  if (Object.keys(cap).length) body.capacity = cap;
  if (!Object.keys(body).length) { say('Nothing was changed.'); closeEdit(); return; }
  const r = await api('PATCH', `/api/staff/${a.id}`, body);
  if (r.status === 200) {
    await load();
    say(`Changes to ${a.login} are saved.`);
    closeEdit();
    return;
  }
  if ((r.status === 400 || r.status === 409) && onField('e', r.body.field, sentence(r.body.error))) return;
  if (r.status === 409) { summary('edit', sentence(r.body.error)); return; }
  refused(r, 'edit');
}

// ---------------------------------------------------------------- confirmations
function confirmAction(title, text, yes) {
  const d = $('confirm');
  $('confirm-h').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-yes').textContent = yes;
  return new Promise(resolve => {
    const done = v => {
      $('confirm-yes').onclick = $('confirm-no').onclick = null;
      d.onclose = null;
      if (d.open) d.close();
      resolve(v);
    };
    $('confirm-yes').onclick = () => done(true);
    $('confirm-no').onclick = () => done(false);
    d.onclose = () => done(false);
    d.showModal();
    $('confirm-no').focus();
  });
}
function backToButton() {
  if (A.back && A.back.isConnected) A.back.focus();
  else $('admin-h').focus();
}

function showPassword(text, pw) {
  $('otp-text').textContent = text;
  $('otp-code').textContent = pw;
  $('otp').hidden = false;
  $('otp-h').focus();
}
function hidePassword() {
  $('otp-code').textContent = '';
  $('otp-text').textContent = '';
  $('otp').hidden = true;
  $('admin-h').focus();
}

async function resetPassword(a) {
  if (!await confirmAction(`Reset the password of ${a.login}?`,
    `${a.name} gets a new one-time password and is signed out everywhere at once.`, 'Reset password')) {
    backToButton();
    return;
  }
  const r = await api('POST', `/api/staff/${a.id}/password`, {});
  if (r.status !== 200) { refused(r, 'page'); backToButton(); return; }
  await load();
  showPassword(`New one-time password for ${a.login} (signed out of ${r.body.sessions_revoked} session${r.body.sessions_revoked === 1 ? '' : 's'}):`, r.body.password);
}

async function setDisabled(a, off) {
  const ok = await confirmAction(off ? `Disable ${a.login}?` : `Enable ${a.login}?`,
    off ? `${a.name} is signed out at once, everywhere, and cannot sign in until the account is enabled again.`
      : `${a.name} can sign in again with their password.`, off ? 'Disable account' : 'Enable account');
  if (!ok) { backToButton(); return; }
  const r = await api('POST', `/api/staff/${a.id}/${off ? 'disable' : 'enable'}`, {});
  if (r.status !== 200) { refused(r, 'page'); backToButton(); return; }
  await load();
  say(off ? `${a.login} is disabled and was signed out of ${r.body.sessions_revoked} session${r.body.sessions_revoked === 1 ? '' : 's'}.`
    : `${a.login} is enabled.`);
  const row = [...document.querySelectorAll('#accounts tr')].find(tr => tr.dataset.login === a.login);
  const b = row && [...row.querySelectorAll('button')].find(x => /^(Enable|Disable)/.test(x.textContent));
  (b || $('admin-h')).focus();
}

// ---------------------------------------------------------------- start
async function init() {
  roleOptions($('c-role'));
  roleOptions($('e-role'));
  $('create-form').addEventListener('submit', create);
  $('edit-form').addEventListener('submit', saveEdit);
  $('edit-cancel').addEventListener('click', closeEdit);
  $('otp-done').addEventListener('click', hidePassword);
  for (const id of ['c-pw-gen', 'c-pw-set']) {
    $(id).addEventListener('change', () => { $('c-password-field').hidden = !$('c-pw-set').checked; });
  }
  const me = await pageStaff(signedOut);
  if (!me) return;
  A.me = me;
  if (me.role !== 'admin') { forbidden(); return; }
  showView('admin', 'admin');
  if (await load()) $('admin-h').focus();
}
init();
