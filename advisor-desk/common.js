// Shared by the desk (desk.js), the wallboard (wallboard.js) and the admin page (admin.js):
// DOM helpers that put every string in the page as text (never as HTML), live-region
// announcements, errors tied to their fields, the staff session and JSON calls to /api/.
export const $ = id => document.getElementById(id);

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = String(text);
  return e;
}

export function ago(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// "1 minute", "3 minutes": a count with its noun in the right number.
export function plural(n, one, many = one + 's') {
  return `${n} ${n === 1 ? one : many}`;
}

export const STATUS_TEXT = { unknown: 'Not known yet (connecting)', available: 'Available', busy: 'Busy', away: 'Away', wrap_up: 'Wrapping up', offline: 'Offline' };
export const REASON_TEXT = { missed_offers: 'missed offers', disconnected: 'disconnected' };
export const CHANNEL_TEXT = { chat: 'Web chat', email: 'Email', sms: 'Text message', voice: 'Phone', visit: 'Visit', web: 'Web form' };
export const channelName = c => CHANNEL_TEXT[c] || c || 'Unknown channel';
export const ROLE_TEXT = { advisor: 'Advisor', supervisor: 'Supervisor', feedback_officer: 'Feedback officer', admin: 'Admin' };

// Announces text in the page's polite (#say-polite) or assertive (#say-alert) live region.
const sayTimers = {};
export function say(text, assertive = false) {
  const key = assertive ? 'say-alert' : 'say-polite';
  const r = $(key);
  r.textContent = '';
  clearTimeout(sayTimers[key]);
  // A short gap so the same words twice are announced twice.
  sayTimers[key] = setTimeout(() => { r.textContent = text; }, 50);
}

// Shows (or clears, text empty) the error errId of input, tied to it for assistive technology.
// True when there is no error.
export function fieldError(input, errId, text) {
  const e = $(errId);
  e.textContent = text || '';
  e.hidden = !text;
  if (text) {
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', errId);
  } else {
    input.removeAttribute('aria-invalid');
    input.removeAttribute('aria-describedby');
  }
  return !text;
}

// The signed-in staff member ({staff, login, name, role}), null when not signed in;
// throws when Switchboard cannot be reached or answers otherwise.
export async function currentStaff() {
  const r = await fetch('/api/session', { credentials: 'same-origin', cache: 'no-store' });
  if (r.status === 401) return null;
  if (!r.ok) throw new Error(`the server answered ${r.status}`);
  return r.json();
}

// A JSON call to /api/: {status, body}; status 0 when Switchboard cannot be reached.
// Every state change carries X-Requested-With (CSRF) and a JSON body.
export async function api(method, path, body) {
  const opt = { method, credentials: 'same-origin', cache: 'no-store', headers: {} };
  if (method !== 'GET') {
    opt.headers['X-Requested-With'] = 'switchboard-desk';
    opt.headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body || {});
  }
  try {
    const r = await fetch(path, opt);
    return { status: r.status, body: await r.json().catch(() => ({})) };
  } catch {
    return { status: 0, body: { error: 'Switchboard cannot be reached' } };
  }
}

// ---- the wallboard's and the admin page's shared states: loading, signed out, forbidden, the page.
// Each page has the sections #loading, #signed-out (#signed-out-h, #signed-out-text,
// #signin-link), #forbidden (#forbidden-h) and its own main view.
export function showView(id, main) {
  for (const s of ['loading', 'signed-out', 'forbidden', main]) $(s).hidden = s !== id;
}
export function showSignedOut(main, page, note, title) {
  showView('signed-out', main);
  $('who').hidden = true;
  $('signed-out-text').textContent = typeof note === 'string' && note ? note
    : 'You are not signed in, or your session has ended.';
  $('signin-link').href = signInLink(page);
  document.title = title;
  $('signed-out-h').focus();
}
export function showForbidden(main, title) {
  showView('forbidden', main);
  document.title = title;
  $('forbidden-h').focus();
}
// The signed-in staff member, named in #who; null (signedOut(note) called) when there is none.
export async function pageStaff(signedOut) {
  let me;
  try {
    me = await currentStaff();
  } catch {
    signedOut('Switchboard cannot be reached. Check your connection, then reload the page.');
    return null;
  }
  if (!me) {
    signedOut();
    return null;
  }
  $('who').hidden = false;
  $('who-name').textContent = me.name || '';
  wireSignOut();
  return me;
}

// The Sign out button (#signout) of a page other than the desk, wired once its staff
// member is known: ends the session (DELETE /api/session; the daemon closes the page's
// socket, if any) and goes to the desk's sign-in page, which says so.
function wireSignOut() {
  const b = $('signout');
  if (!b || b.dataset.wired) return;
  b.dataset.wired = '1';
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await fetch('/api/session', { method: 'DELETE', credentials: 'same-origin',
        headers: { 'X-Requested-With': 'switchboard-desk' } });
    } catch { /* the session ends on its own; the sign-in page is shown either way */ }
    location.assign('./?signed-out=1');
  });
}

// Where the desk's sign-in sends a staff member back to after signing in (pages of the desk only).
export const RETURN_PAGES = ['wallboard.html', 'admin.html', 'audit.html', 'settings.html'];
export function signInLink(page) {
  return `./?next=${encodeURIComponent(page)}`;
}
