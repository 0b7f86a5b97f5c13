// The desk says what is true (issue 13, item 21), against the REAL daemon started by ./run:
// an offer names the resident, the queue (topic) and the first message, or says it is a
// left message; queues are named, not numbered; the resident's typing goes when the chat
// ends or leaves the desk; offer alerts (a tone, a notification) are off for a new advisor,
// kept across a reload, and heard and seen when an offer comes; every staff page signs out.
// Users of its own, made by ./run: advisor e2e-olive (Council Tax and Bins and recycling)
// and admin e2e-otto. Run after the other desk files, before admin.test.mjs.
// Environment (set by ./run): SB_URL, SB_PROXY_PORT, SB_OLIVE, SB_OTTO (passwords), SB_SHOTS.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { axe as axeCheck, drain, goAway, launch, residentSays, setStatus, signedInDesk, startProxy, startResident,
  until, wtext } from './lib.mjs';

const SB = process.env.SB_URL;
const RES = `http://localhost:${process.env.SB_PROXY_PORT}`;
const OLIVE = ['e2e-olive', process.env.SB_OLIVE];
const OTTO = ['e2e-otto', process.env.SB_OTTO];
let browser, proxy;

before(async () => {
  assert.ok(SB && OLIVE[1] && OTTO[1], 'SB_URL, SB_OLIVE and SB_OTTO are set by tests/e2e/run');
  proxy = await startProxy(+process.env.SB_PROXY_PORT, new URL(SB));
  browser = await launch();
});
after(async () => {
  if (browser) await drain(browser, SB, ...OLIVE);
  await browser?.close();
  await proxy?.close();
});
// Whatever waits for olive (left by an earlier test) is taken and closed first.
beforeEach(() => drain(browser, SB, ...OLIVE));

// SB_SHOTS=<folder>: screenshots of the states axe checks, to look at by eye.
let shot = 0;
async function axe(page, state) {
  if (process.env.SB_SHOTS) {
    await page.screenshot({ path: path.join(process.env.SB_SHOTS, `offer-${++shot}-${state.replace(/\W+/g, '-')}.png`), fullPage: true });
  }
  await axeCheck(page, state);
}
const olive = () => signedInDesk(browser, SB, ...OLIVE);
const typingText = page => page.locator('#c-typing').textContent();

// Keeps the resident typing (the widget tells the desk, and says it stopped after 5 s
// idle) until stop() is called.
function keepTyping(res) {
  let on = true;
  const box = res.page.getByLabel('Your message');
  const run = (async () => {
    for (let i = 0; on; i++) {
      await box.pressSequentially(String(i % 10), { timeout: 2000 }).catch(() => {});
      await new Promise(r => setTimeout(r, 300));
    }
  })();
  return async () => { on = false; await run; };
}

test('an offer names the resident, the queue and the first message; queues by name; typing goes when the advisor ends the chat', async () => {
  const { ctx, page, errors } = await olive();
  let res, stop;
  try {
    // Busy: the queue is served, nothing is offered yet. The resident writes first.
    await page.getByLabel('Change status to').selectOption('busy');
    await page.getByRole('button', { name: 'Set status' }).click();
    await page.locator('#status-now', { hasText: 'Busy' }).waitFor();
    res = await startResident(browser, RES, 'Pat Offer', 'pat.offer@example.org');
    await res.page.getByText(/You are number 1 in the queue/).first().waitFor();
    await residentSays(res.page, 'My   council tax bill\nis <b>wrong</b>');
    await res.page.locator('switchboard-chat .st', { hasText: /Sent|Delivered/ }).first().waitFor();

    await setStatus(page, 'available');
    const offer = page.locator('.offer').first();
    await offer.getByRole('heading', { name: 'Web chat offer: Council Tax' }).waitFor();
    await offer.getByText('From Pat Offer').waitFor();
    const first = offer.locator('.offer-first');
    await first.waitFor();
    assert.equal(await first.textContent(), 'First message: \u201cMy council tax bill is <b>wrong</b>\u201d', 'as text');
    assert.equal(await offer.locator('b').count(), 0);
    assert.equal(await offer.getByText('queue 1').count(), 0, 'no queue number');
    // Announced once, with the name.
    await until(async () => /New web chat offer: Council Tax, from Pat Offer\./.test(await page.locator('#say-alert').textContent()),
      'the offer announced with its details');
    await axe(page, 'offer with its details');

    await offer.getByRole('button', { name: 'Accept' }).click();
    await page.getByRole('heading', { name: 'Web chat with Pat Offer' }).waitFor();
    // Queues by name in the list and the view; the match said in words.
    await page.locator('#inbox button', { hasText: 'Web chat, Council Tax' }).waitFor();
    assert.equal(await page.locator('#c-channel').textContent(), 'Web chat, Council Tax');
    await page.locator('#c-customer', { hasText: /^Pat Offer \((new customer|details match an existing record)\)$/ }).waitFor();
    // Transfer targets by name.
    await page.getByText('Transfer to a queue or an advisor').click();
    const to = page.getByLabel('To a queue');
    await to.locator('option', { hasText: 'Bins and recycling' }).waitFor({ state: 'attached' });
    assert.deepEqual(await to.locator('option').allTextContents(), ['No queue', 'Bins and recycling', 'Council Tax', 'Texts']);
    await axe(page, 'conversation with queue names');
    await page.getByText('Transfer to a queue or an advisor').click();

    // The resident types; the advisor ends the chat: the typing line goes with it.
    stop = keepTyping(res);
    await page.locator('#c-typing', { hasText: 'Pat Offer is typing' }).waitFor();
    await page.getByRole('button', { name: 'End chat' }).click();
    await page.locator('#c-state', { hasText: /ended/ }).waitFor();
    assert.equal(await typingText(page), '', 'no typing once the chat ended');
    await stop();
    stop = null;
    await res.page.getByText('The advisor ended the chat.').first().waitFor();
    assert.equal(await typingText(page), '');
    assert.deepEqual(errors.filter(e => !/401/.test(e)), []);
  } finally {
    if (stop) await stop();
    await goAway(page).catch(() => {});
    await res?.ctx.close();
    await ctx.close();
  }
});

test('the typing line goes when the conversation leaves the desk (transferred)', async () => {
  const { ctx, page } = await olive();
  let res, stop;
  try {
    await setStatus(page, 'available');
    res = await startResident(browser, RES, 'Rae Release');
    await page.locator('.offer').getByRole('heading', { name: 'Web chat offer: Council Tax' }).waitFor();
    await page.locator('.offer').getByText('No message yet.').waitFor();
    await page.getByRole('button', { name: 'Accept' }).click();
    await page.getByRole('heading', { name: 'Web chat with Rae Release' }).waitFor();
    await res.page.locator('switchboard-chat .stat', { hasText: 'You are chatting with Olive Offer' }).waitFor();
    stop = keepTyping(res);
    await page.locator('#c-typing', { hasText: 'Rae Release is typing' }).waitFor();
    // Council Tax has wrap-up codes by now (no plain release): it goes to another queue.
    await page.getByText('Transfer to a queue or an advisor').click();
    await page.getByLabel('To a queue').selectOption({ label: 'Bins and recycling' });
    await page.getByRole('button', { name: 'Transfer', exact: true }).click();
    await page.locator('#c-state', { hasText: /left your list/ }).waitFor();
    assert.equal(await typingText(page), '', 'no typing once it left the desk');
    await until(async () => /Transferred to Bins and recycling\./.test(await page.locator('#say-polite').textContent()),
      'the transfer announced by name');
  } finally {
    if (stop) await stop();
    await goAway(page).catch(() => {});
    await res?.ctx.close();
    await ctx.close();
  }
});

test('a left message\'s offer says so, with its text', async () => {
  const { ctx, page } = await olive();
  const rctx = await browser.newContext();
  try {
    await setStatus(page, 'available');
    // Bins is closed today: the resident leaves a message (the widget's protocol).
    const rpage = await rctx.newPage();
    await rpage.goto(RES + '/widget/demo/');
    const left = await rpage.evaluate(() => new Promise((resolve, reject) => {
      const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws', 'switchboard.chat.v1');
      ws.onmessage = e => {
        const m = JSON.parse(e.data);
        if (m.type === 'hello') {
          ws.send(JSON.stringify({ type: 'message.leave', id: 'l', queue: 'bins', name: 'Lou Left',
            email: 'lou.left@example.org', text: 'My bin was not collected on Monday.', client_id: crypto.randomUUID() }));
        } else if (m.type === 'message.left') { ws.close(); resolve(m); } else if (m.type === 'error') reject(new Error(m.message));
      };
      ws.onerror = () => reject(new Error('socket failed'));
    }));
    assert.match(left.reference, /^SB\d+$/);
    const offer = page.locator('.offer', { hasText: 'Lou Left' });
    await offer.getByRole('heading', { name: 'Left message: Bins and recycling' }).waitFor();
    await offer.getByText('Left message: the resident is not in a live chat').waitFor();
    assert.equal(await offer.locator('.offer-first').textContent(), 'Their message: \u201cMy bin was not collected on Monday.\u201d');
    await axe(page, 'left message offer');
    // Left offered: the next test's drain() takes it.
  } finally {
    await goAway(page).catch(() => {});
    await rctx.close();
    await ctx.close();
  }
});

// The browser's Notification and WebAudio, and the tab's visibility, replaced in the page
// so that what the desk does can be seen: window.__sb counts tones and notifications.
function stubAlerts() {
  const keep = k => sessionStorage.getItem('stub-' + k);
  window.__sb = { tones: 0, notes: [], closed: 0, asked: 0, hidden: false };
  window.Notification = class {
    constructor(title, opts = {}) {
      this.title = title;
      window.__sb.notes.push({ title, body: opts.body || '', tag: opts.tag || '' });
    }
    close() { window.__sb.closed++; }
    static get permission() { return keep('perm') || 'default'; }
    static requestPermission() {
      window.__sb.asked++;
      sessionStorage.setItem('stub-perm', keep('answer') || 'granted');
      return Promise.resolve(keep('perm'));
    }
  };
  const Real = window.AudioContext;
  window.AudioContext = class extends Real {
    createOscillator() {
      const o = super.createOscillator();
      const start = o.start.bind(o);
      o.start = (...a) => { window.__sb.tones++; return start(...a); };
      return o;
    }
  };
  Object.defineProperty(Document.prototype, 'visibilityState',
    { configurable: true, get: () => (window.__sb.hidden ? 'hidden' : 'visible') });
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => window.__sb.hidden });
}

test('offer alerts: off for a new advisor, kept across a reload, a tone and a notification when an offer comes', async () => {
  const ctx = await browser.newContext();
  await ctx.addInitScript(stubAlerts);
  const page = await ctx.newPage();
  let res, res2;
  try {
    await page.goto(SB + '/desk/');
    await page.getByLabel('Login').fill(OLIVE[0]);
    await page.getByLabel('Password', { exact: true }).fill(OLIVE[1]);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#status-now', { hasText: /Offline|Away/ }).waitFor();
    const sound = page.getByLabel('Play a sound when an offer arrives');
    const notify = page.getByLabel('Show a notification when an offer arrives while the desk is in the background');
    await until(async () => (await page.evaluate(() => fetch('/api/me/preferences').then(r => r.json()))).offer_sound === false,
      'the preferences read');
    assert.equal(await sound.isChecked(), false, 'no sound for a new advisor');
    assert.equal(await notify.isChecked(), false, 'no notification for a new advisor');
    await axe(page, 'offer alerts off');

    // The browser refuses notifications: said at the box, which stays off, nothing saved.
    await page.evaluate(() => sessionStorage.setItem('stub-answer', 'denied'));
    await notify.click();
    await page.locator('#pref-notify-err', { hasText: /did not allow notifications/ }).waitFor();
    assert.equal(await notify.isChecked(), false);
    assert.equal(await notify.getAttribute('aria-invalid'), 'true');
    await axe(page, 'notifications refused');

    // Allowed: both on, a sample tone from the click.
    await page.evaluate(() => { sessionStorage.removeItem('stub-perm'); sessionStorage.setItem('stub-answer', 'granted'); });
    await sound.check();
    await until(() => page.evaluate(() => window.__sb.tones > 0), 'a sample tone');
    await notify.check();
    await until(async () => (await page.evaluate(() => fetch('/api/me/preferences').then(r => r.json()))).offer_notification,
      'the notification preference saved');
    assert.equal(await page.evaluate(() => window.__sb.asked), 2, 'permission asked from each click');
    assert.equal(await page.locator('#pref-notify-err').isHidden(), true);

    // Kept across a reload (by the daemon, not the browser).
    await page.reload();
    await page.locator('#status-now', { hasText: /Offline|Away/ }).waitFor();
    await until(async () => await sound.isChecked() && await notify.isChecked(), 'both still on after a reload');
    await axe(page, 'offer alerts on');

    // The tab goes to the background; an offer comes: a tone and a notification.
    await page.locator('#offers-h').click();  // a click on the page lets it play sound again
    const tones = await page.evaluate(() => window.__sb.tones);
    await setStatus(page, 'available');
    await page.evaluate(() => { window.__sb.hidden = true; });
    res = await startResident(browser, RES, 'Nell Notify');
    const offer = page.locator('.offer', { hasText: 'Nell Notify' });
    await offer.waitFor();
    await until(() => page.evaluate(t => window.__sb.tones > t, tones), 'the offer\'s tone');
    const notes = await until(async () => {
      const n = await page.evaluate(() => window.__sb.notes);
      return n.length ? n : null;
    }, 'a notification');
    assert.equal(notes.length, 1);
    assert.equal(notes[0].title, 'New web chat offer: Council Tax');
    assert.doesNotMatch(notes[0].body + notes[0].title, /Nell/, 'nothing of the resident leaves the page');
    // Accepted: the notification goes.
    await page.evaluate(() => { window.__sb.hidden = false; });
    await offer.getByRole('button', { name: 'Accept' }).click();
    await page.getByRole('heading', { name: 'Web chat with Nell Notify' }).waitFor();
    await until(() => page.evaluate(() => window.__sb.closed > 0), 'the notification closed');

    // While the tab is shown, a tone but no notification (both left for drain() to close).
    const tones2 = await page.evaluate(() => window.__sb.tones);
    res2 = await startResident(browser, RES, 'Vic Visible');
    await page.locator('.offer', { hasText: 'Vic Visible' }).waitFor();
    await until(() => page.evaluate(t => window.__sb.tones > t, tones2), 'the second offer\'s tone');
    assert.equal((await page.evaluate(() => window.__sb.notes)).length, 1, 'no notification while the desk is shown');

    // Off again (for the next run of this file on the same database).
    await goAway(page);
    await sound.uncheck();
    await notify.uncheck();
    await until(async () => {
      const p = await page.evaluate(() => fetch('/api/me/preferences').then(r => r.json()));
      return !p.offer_sound && !p.offer_notification;
    }, 'both off again');
  } finally {
    await goAway(page).catch(() => {});
    await res?.ctx.close();
    await res2?.ctx.close();
    await ctx.close();
  }
});

test('every staff page has Sign out, which ends the session and returns to sign-in', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const signIn = async () => {
    await page.goto(SB + '/desk/');
    await page.evaluate(async ([login, password]) => {
      const r = await fetch('/api/session', { method: 'POST', body: JSON.stringify({ login, password }),
        headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'test' } });
      if (!r.ok) throw new Error('sign-in answered ' + r.status);
    }, OTTO);
  };
  try {
    for (const [file, heading] of [['wallboard.html', 'Wallboard'], ['settings.html', 'Canned responses and wrap-up codes'],
      ['admin.html', 'Staff accounts'], ['audit.html', 'Audit log'], ['', 'Advisor desk']]) {
      await signIn();
      await page.goto(SB + '/desk/' + file);
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor({ state: 'attached' });
      const out = page.getByRole('button', { name: 'Sign out' }).first();
      await out.waitFor();
      await axe(page, `sign out on ${file || 'the desk'}`);
      await out.click();
      await page.getByRole('heading', { name: 'Sign in to the advisor desk' }).waitFor();
      await page.getByText('You have signed out.').waitFor();
      assert.equal(await page.evaluate(() => fetch('/api/session').then(r => r.status)), 401, `signed out from ${file || 'the desk'}`);
      assert.doesNotMatch(page.url(), /signed-out/, 'the address is clean again');
    }
  } finally {
    await ctx.close();
  }
});
