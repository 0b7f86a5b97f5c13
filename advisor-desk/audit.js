// Switchboard audit log (admins only), over GET /api/audit (docs/api.md): who viewed,
// searched, edited or exported which record and who changed which account, newest first,
// filtered by object and by who, 50 entries a page. Everything from the log is put in the
// page as text.
import { $, el, say, fieldError, api, pageStaff, plural, showView, showSignedOut, showForbidden } from './common.js';

const PAGE = 50;
const L = { filter: '', last: null };
const ACTIONS = {
  'customer.view': 'Viewed the record', 'customer.search': 'Searched customers',
  'customer.edit': 'Edited the record', 'customer.create': 'Created a record',
  'customer.link': 'Linked two records for review', 'customer.export': 'Exported the whole record',
  'conversation.view': 'Read the conversation', 'conversation.customer': 'Moved the conversation to a record',
  'staff.create': 'Created the account', 'staff.edit': 'Changed the account',
  'staff.password_reset': 'Reset the password', 'staff.disable': 'Disabled the account',
  'staff.enable': 'Enabled the account', 'staff.login': 'Signed in',
  'canned.create': 'Created a canned response', 'canned.edit': 'Changed a canned response',
  'disposition_code.create': 'Created a wrap-up code', 'disposition_code.edit': 'Changed a wrap-up code',
  'conversation.transfer': 'Transferred the conversation',
};
const KINDS = { customer: 'Customer', conversation: 'Conversation', staff: 'Account',
  canned_response: 'Canned response', disposition_code: 'Wrap-up code' };

function signedOut(note) {
  showSignedOut('audit', 'audit.html', note, 'Sign in – Switchboard audit log');
}
function pageError(text) {
  $('page-error-text').textContent = text || '';
  $('page-error').hidden = !text;
}
// The detail object in a line: "query: ann; conversations: 30" (nested values as JSON text).
function detailText(d) {
  if (!d || typeof d !== 'object') return '';
  return Object.entries(d).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join('; ');
}
function row(e) {
  const tr = el('tr');
  const when = el('th', null, new Date(e.at).toLocaleString('en-GB'));
  when.scope = 'row';
  tr.append(when, el('td', null, e.actor), el('td', null, ACTIONS[e.action] || e.action),
    el('td', null, e.object_kind ? `${KINDS[e.object_kind] || e.object_kind} ${e.object_id || ''}`.trim() : ''),
    el('td', 'detail', detailText(e.detail)), el('td', null, e.ip || 'Not known'));
  return tr;
}

async function load(more) {
  pageError('');
  const q = L.filter + (more && L.last ? `&before=${L.last}` : '');
  const r = await api('GET', `/api/audit?limit=${PAGE}${q}`);
  if (r.status === 401) { signedOut('Your session has ended. Sign in again to carry on.'); return false; }
  if (r.status === 403) { showForbidden('audit', 'Admins only – Switchboard audit log'); return false; }
  if (r.status !== 200 || !Array.isArray(r.body)) {
    pageError(r.status === 0 ? 'Switchboard cannot be reached. Check your connection and try again.'
      : `The audit log could not be read: ${r.body.error || `the server answered ${r.status}`}.`);
    return false;
  }
  const rows = r.body.map(row);
  if (more) $('log').append(...rows); else $('log').replaceChildren(...rows);
  if (r.body.length) L.last = r.body[r.body.length - 1].id;
  $('older').hidden = r.body.length < PAGE;
  const n = $('log').children.length;
  $('result-note').textContent = n ? `${n} ${n === 1 ? 'entry' : 'entries'} shown, newest first.` : 'No entries match.';
  say(more ? `${plural(r.body.length, 'older entry', 'older entries')} shown.` : $('result-note').textContent);
  if (more && rows.length) { rows[0].firstChild.tabIndex = -1; rows[0].firstChild.focus(); }
  return true;
}

function filter(ev) {
  ev.preventDefault();
  const id = $('f-id').value.trim();
  const actor = $('f-actor').value.trim();
  const kind = $('f-kind').value;
  const okId = fieldError($('f-id'), 'f-id-err', !id || /^\d{1,18}$/.test(id) ? '' : 'Enter a number, or leave it empty');
  const okActor = fieldError($('f-actor'), 'f-actor-err', actor.length <= 200 ? '' : 'A login is at most 200 characters');
  if (!okId) { $('f-id').focus(); return; }
  if (!okActor) { $('f-actor').focus(); return; }
  const p = new URLSearchParams();
  if (kind) p.set('object_kind', kind);
  if (id) p.set('object_id', id);
  if (actor) p.set('actor', actor);
  L.filter = p.toString() ? '&' + p.toString() : '';
  L.last = null;
  load(false);
}

async function init() {
  $('filter-form').addEventListener('submit', filter);
  $('older').addEventListener('click', () => load(true));
  // A link from a record may name it: audit.html?object_kind=customer&object_id=7
  const u = new URLSearchParams(location.search);
  if (KINDS[u.get('object_kind')]) $('f-kind').value = u.get('object_kind');
  if (/^\d{1,18}$/.test(u.get('object_id') || '')) $('f-id').value = u.get('object_id');
  const me = await pageStaff(signedOut);
  if (!me) return;
  if (me.role !== 'admin') { showForbidden('audit', 'Admins only – Switchboard audit log'); return; }
  showView('audit', 'audit');
  const p = new URLSearchParams();
  if ($('f-kind').value) p.set('object_kind', $('f-kind').value);
  if ($('f-id').value) p.set('object_id', $('f-id').value);
  L.filter = p.toString() ? '&' + p.toString() : '';
  if (await load(false)) $('audit-h').focus();
}
init();
