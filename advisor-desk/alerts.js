// Offer alerts: a short tone and a browser notification when an offer arrives, each off
// until the advisor turns it on. The choice is the advisor's own, kept by the daemon
// (GET/PATCH /api/me/preferences) so it follows them to another machine; the form is the
// desk's "Offer alerts" panel (#pref-sound, #pref-notify).
//
// * The tone is made with WebAudio (no audio file, nothing fetched). Browsers let a page
//   play sound only after a click or key press on it, so the audio is started on the
//   advisor's first one (after a reload an offer that comes before any is silent).
// * The notification is shown only while the desk's tab is hidden, says only the channel
//   and the queue (nothing of the resident reaches the operating system's notification
//   list), and is closed when the offer goes. The browser's permission is asked only when
//   the advisor turns it on, from their click.
import { $, api, fieldError, say } from './common.js';

const P = { offer_sound: false, offer_notification: false };
const shown = new Map();   // conversation -> Notification
let audio = null;
let hooks = { sessionGone: () => {}, focusOffer: () => {} };

const canNotify = () => typeof window.Notification === 'function';

function context() {
  const AC = window.AudioContext || window.webkitAudioContext;
  if (!AC) return null;
  if (!audio) audio = new AC();
  if (audio.state === 'suspended') audio.resume().catch(() => {});
  return audio;
}

// Two short notes, quiet, under half a second.
function tone() {
  const ctx = context();
  if (!ctx) return false;
  const t = ctx.currentTime + 0.01;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.type = 'sine';
  osc.frequency.setValueAtTime(880, t);
  osc.frequency.setValueAtTime(660, t + 0.15);
  gain.gain.setValueAtTime(0.0001, t);
  gain.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.4);
  osc.connect(gain);
  gain.connect(ctx.destination);
  osc.start(t);
  osc.stop(t + 0.45);
  return true;
}

function render() {
  $('pref-sound').checked = P.offer_sound;
  $('pref-notify').checked = P.offer_notification;
  const note = $('pref-notify-note');
  if (!canNotify()) {
    $('pref-notify').disabled = true;
    note.textContent = 'This browser cannot show notifications.';
  } else if (P.offer_notification && Notification.permission !== 'granted') {
    note.textContent = 'This browser has not allowed notifications from the desk yet: ' +
      'turn this off and on again to allow them.';
  } else note.textContent = '';
}

// Saves one preference; on failure the box goes back and says why.
async function save(box, errId, key, on) {
  fieldError(box, errId, '');
  const r = await api('PATCH', '/api/me/preferences', { [key]: on });
  if (r.status === 401) { hooks.sessionGone(); return false; }
  if (r.status !== 200) {
    box.checked = !on;
    fieldError(box, errId, `Not saved: ${r.body.error || 'Switchboard cannot be reached'}. Try again.`);
    return false;
  }
  Object.assign(P, r.body);
  render();
  return true;
}

async function soundChanged() {
  const box = $('pref-sound');
  const on = box.checked;
  // From the advisor's click: the browser lets the desk play sounds from now on.
  if (on) tone();
  if (await save(box, 'pref-sound-err', 'offer_sound', on)) {
    say(on ? 'A sound will play when an offer arrives.' : 'No sound when an offer arrives.');
  }
}

async function notifyChanged() {
  const box = $('pref-notify');
  const on = box.checked;
  if (on && canNotify() && Notification.permission !== 'granted') {
    let p = Notification.permission;
    if (p === 'default') {
      try { p = await Notification.requestPermission(); } catch { p = 'denied'; }
    }
    if (p !== 'granted') {
      box.checked = false;
      fieldError(box, 'pref-notify-err', 'Your browser did not allow notifications from the desk. ' +
        'Allow them in the browser\u2019s settings for this site, then try again.');
      box.focus();
      return;
    }
  }
  if (await save(box, 'pref-notify-err', 'offer_notification', on)) {
    say(on ? 'A notification will show when an offer arrives while the desk is in the background.'
      : 'No notifications of offers.');
  }
}

export function init(h) {
  hooks = { ...hooks, ...h };
  $('pref-sound').addEventListener('change', soundChanged);
  $('pref-notify').addEventListener('change', notifyChanged);
  // Audio may start only from the advisor's own click or key press.
  const unlock = () => { if (P.offer_sound) context(); };
  document.addEventListener('pointerdown', unlock, true);
  document.addEventListener('keydown', unlock, true);
  render();
}

// The advisor's preferences, at sign-in.
export async function load() {
  const r = await api('GET', '/api/me/preferences');
  if (r.status === 200) Object.assign(P, r.body);
  else if (r.status === 401) { hooks.sessionGone(); return; }
  render();
}

export function reset() {
  P.offer_sound = false;
  P.offer_notification = false;
  for (const n of shown.values()) n.close();
  shown.clear();
  for (const id of ['pref-sound', 'pref-notify']) fieldError($(id), id + '-err', '');
  render();
}

// A new offer has arrived: title such as "New web chat offer: Council Tax".
export function offer(conversation, title) {
  if (P.offer_sound) tone();
  if (!P.offer_notification || !canNotify() || Notification.permission !== 'granted' ||
      document.visibilityState !== 'hidden') return;
  try {
    const n = new Notification(title, { body: 'Open the advisor desk to accept or reject it.',
      tag: 'sb-offer-' + conversation, icon: 'favicon.svg' });
    n.onclick = () => {
      window.focus();
      hooks.focusOffer(conversation);
      n.close();
    };
    shown.set(conversation, n);
  } catch { /* a browser that allows only service-worker notifications: none shown */ }
}

// The offer has gone (accepted, rejected, timed out, withdrawn).
export function gone(conversation) {
  const n = shown.get(conversation);
  if (n) n.close();
  shown.delete(conversation);
}
