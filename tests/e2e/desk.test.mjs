// End-to-end tests of the advisor desk web app (advisor-desk/, served at /desk/) against
// the REAL daemon started by ./run (throwaway PostgreSQL and Redis, advisor `sam`): the
// advisor uses the desk page in one browser context, a resident the chat widget's demo
// page (through a TCP proxy, the widget origin) in another.
// Each test leaves the advisor away (or signed out) so no later test is offered its chats.
// Environment (set by ./run): SB_URL, SB_PROXY_PORT, SB_LOGIN, SB_PASSWORD.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { axe as axeCheck, cleanUp, drain, goAway, launch, openDesk, residentSays, startProxy, startResident, until,
  wtext } from './lib.mjs';

const SB = process.env.SB_URL;
const RES = `http://localhost:${process.env.SB_PROXY_PORT}`;
const LOGIN = process.env.SB_LOGIN;
const PASSWORD = process.env.SB_PASSWORD;
let browser, proxy, deskProxy;
const DESK = `http://localhost:${process.env.SB_DESK_PROXY_PORT}`;

before(async () => {
  assert.ok(SB, 'SB_URL is set by tests/e2e/run');
  proxy = await startProxy(+process.env.SB_PROXY_PORT, new URL(SB));
  // The desk through a proxy of its own (an allowed staff origin), so a test can cut it.
  deskProxy = await startProxy(+process.env.SB_DESK_PROXY_PORT, new URL(SB));
  browser = await launch();
});
after(async () => { await browser?.close(); await proxy?.close(); await deskProxy?.close(); });

// SB_SHOTS=<folder>: screenshots of the states axe checks, to look at by eye.
let shot = 0;
async function axe(page, state) {
  if (process.env.SB_SHOTS) {
    await page.screenshot({ path: path.join(process.env.SB_SHOTS, `${++shot}-${state.replace(/\W+/g, '-')}.png`), fullPage: true });
  }
  await axeCheck(page, state);
}
const focused = page => page.evaluate(() => {
  const a = document.activeElement;
  return a ? `${a.id}|${a.className}|${a.tagName}` : '';
});
async function tabTo(page, re, what, max = 60) {
  for (let i = 0; i < max; i++) {
    if (re.test(await focused(page))) return;
    await page.keyboard.press('Tab');
  }
  assert.fail('Tab never reached ' + what + ' (at ' + await focused(page) + ')');
}

// ---- the resident and the desk (tests/e2e/lib.mjs) ----
const residentStarts = (name, email) => startResident(browser, RES, name, email);
const deskPage = (base = SB) => openDesk(browser, base);
beforeEach(() => drain(browser, SB, LOGIN, PASSWORD));

test('desk: sign in (wrong, then right), available, offer with countdown, accept by key, chat both ways, page change, end, sign out', async () => {
  const { ctx, page, errors } = await deskPage();
  let res;
  try {
    await axe(page, 'sign-in');
    // Wrong password: the error is in text and tied to the field.
    await page.getByLabel('Login').fill(LOGIN);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const err = page.locator('#password-err');
    await err.waitFor();
    assert.match(await err.textContent(), /login or password is not right/);
    const pw = page.getByLabel('Password');
    assert.equal(await pw.getAttribute('aria-invalid'), 'true');
    assert.equal(await pw.getAttribute('aria-describedby'), 'password-err');
    assert.equal(await focused(page), 'password||INPUT');
    await axe(page, 'sign-in with an error');
    // The right one.
    await pw.fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Your status' }).waitFor();
    await page.locator('#who-name', { hasText: 'Sam Advisor' }).waitFor();
    // A new desk takes the status the advisor has now: drain() left it away.
    await page.locator('#status-now', { hasText: 'Away' }).waitFor();
    await page.locator('#status-reason-now', { hasText: '(test)' }).waitFor();

    // Available.
    await page.getByLabel('Change status to').selectOption('available');
    await page.getByRole('button', { name: 'Set status' }).click();
    await page.locator('#status-now', { hasText: 'Available' }).waitFor();

    // A resident starts a chat: an offer with a countdown, announced.
    res = await residentStarts('Alex Resident', 'alex@example.com');
    const offer = page.locator('.offer').first();
    await offer.waitFor();
    // Named: the queue, then the resident (GET /api/conversations/{id}/offer).
    await offer.getByRole('heading', { name: 'Web chat offer: Council Tax' }).waitFor();
    await offer.getByText('From Alex Resident').waitFor();
    const left = async () => +((await offer.locator('.left').textContent()).match(/(\d+) seconds? left/) || [])[1];
    const t0 = await left();
    assert.ok(t0 > 0 && t0 <= 60, 'countdown shows the seconds left: ' + t0);
    await until(async () => (await left()) < t0, 'the countdown to go down', 5000);
    await until(async () => /offer/i.test(await page.locator('#say-alert').textContent()), 'the offer announced');
    await axe(page, 'desk with an offer');

    // Accept with one key while the offer has focus.
    await offer.focus();
    await page.keyboard.press('a');
    await page.getByRole('heading', { name: 'Web chat with Alex Resident' }).waitFor();
    await page.locator('.offer').waitFor({ state: 'detached' });
    await page.locator('#c-contact', { hasText: 'alex@example.com' }).waitFor();
    await page.locator('#inbox button[aria-current="true"]', { hasText: 'Alex Resident' }).waitFor();
    await res.page.locator('switchboard-chat .stat', { hasText: 'You are chatting with Sam Advisor' }).waitFor();

    // The resident writes; it shows on the desk, and is marked read while the view is open.
    await residentSays(res.page, 'My bill looks wrong <b>bold?</b>');
    const rm = page.locator('#thread .msg.resident .txt', { hasText: 'My bill looks wrong' });
    await rm.waitFor();
    assert.equal(await rm.textContent(), 'My bill looks wrong <b>bold?</b>', 'shown as text, not HTML');
    assert.equal(await page.locator('#thread b').count(), 0);
    await res.page.locator('switchboard-chat .st', { hasText: 'Read' }).waitFor();

    // The resident types: the desk sees it.
    await res.page.getByLabel('Your message').pressSequentially('Also', { delay: 30 });
    await page.locator('#c-typing', { hasText: 'Alex Resident is typing' }).waitFor();
    await res.page.getByLabel('Your message').fill('');

    // The advisor types and replies from the composer (Enter sends).
    await page.getByLabel('Your reply').pressSequentially('Let me check that', { delay: 20 });
    await res.page.locator('switchboard-chat .typing', { hasText: 'Sam Advisor is typing' }).waitFor();
    await page.getByLabel('Your reply').press('Shift+Enter');
    await page.getByLabel('Your reply').pressSequentially('for you.');
    await page.getByLabel('Your reply').press('Enter');
    await wtext(res.page, 'Let me check that').waitFor();
    assert.equal(await wtext(res.page, 'Let me check that').textContent(), 'Let me check that\nfor you.');
    await page.locator('#thread .msg.advisor .meta', { hasText: /Sent|Read/ }).waitFor();
    assert.equal(await page.getByLabel('Your reply').inputValue(), '');

    // The resident goes to another page: the desk shows where.
    await res.page.goto(RES + '/widget/demo/?section=discounts');
    await page.locator('#c-page', { hasText: RES + '/widget/demo/?section=discounts' }).waitFor();
    await wtext(res.page, 'Let me check that').waitFor();
    await axe(page, 'conversation view');

    // An internal note: in the desk's thread, never in the widget.
    await page.getByText('Add an internal note').click();
    await page.locator('#n-text').fill('Resident <b>upset</b> about the bill');
    await page.getByRole('button', { name: 'Add note' }).click();
    await page.locator('#thread .msg', { hasText: 'Resident <b>upset</b> about the bill' }).waitFor();
    assert.equal(await page.locator('#thread .msg b').count(), 0, 'note text is text');
    await new Promise(r => setTimeout(r, 500));
    assert.equal(await wtext(res.page, 'upset').count(), 0, 'the resident never sees a note');

    // End the chat.
    await page.getByRole('button', { name: 'End chat' }).click();
    await res.page.getByText('The advisor ended the chat.').first().waitFor();
    await page.locator('#c-state', { hasText: /ended/ }).waitFor();
    await axe(page, 'conversation ended');

    // Away, then sign out.
    await goAway(page);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to the advisor desk' }).waitFor();
    await page.getByText('You have signed out.').waitFor();
    const st = await page.evaluate(() => fetch('/api/session').then(r => r.status));
    assert.equal(st, 401, 'the session is gone');
    assert.deepEqual(errors.filter(e => !/401/.test(e)), []);
  } catch (e) {
    console.error('desk page errors:', errors, 'announced:', await page.locator('#say-polite').textContent(),
      await page.locator('#say-alert').textContent(), 'view:', await page.locator('#conv-h').textContent(),
      await page.locator('#c-state').textContent(), await page.locator('#c-customer').textContent());
    throw e;
  } finally {
    await cleanUp(page);
    await res?.ctx.close();
    await ctx.close();
  }
});

test('desk, keyboard only: sign in, go available, accept an offer, answer and end the chat', async () => {
  const { ctx, page } = await deskPage();
  let res;
  try {
    // Focus starts on the sign-in heading.
    await tabTo(page, /^login\|/, 'the login field');
    await page.keyboard.type(LOGIN);
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.locator('#status-now', { hasText: 'Away' }).waitFor();
    await tabTo(page, /^status-select\|/, 'the status selector');
    // "Available" is the first option; make sure of it from the keyboard.
    await page.keyboard.press('Home');
    assert.equal(await page.locator('#status-select').inputValue(), 'available');
    await page.keyboard.press('Tab');
    assert.match(await focused(page), /\|btn\|BUTTON$/);
    await page.keyboard.press('Enter');
    await page.locator('#status-now', { hasText: 'Available' }).waitFor();

    res = await residentStarts('Kim Keyboard');
    await page.locator('.offer').waitFor();
    // From the status button, one shortcut to the offer, one key to accept.
    await page.keyboard.press('Alt+Shift+O');
    assert.match(await focused(page), /\|offer\|DIV$/);
    await page.keyboard.press('a');
    await page.getByRole('heading', { name: 'Web chat with Kim Keyboard' }).waitFor();
    assert.equal(await focused(page), 'conv-h||H2');
    await residentSays(res.page, 'Hello, is anyone there?');
    await page.locator('#thread .msg.resident .txt', { hasText: 'Hello, is anyone there?' }).waitFor();
    await tabTo(page, /^composer\|/, 'the composer');
    await page.keyboard.type('Hello Kim, how can I help?');
    await page.keyboard.press('Enter');
    await wtext(res.page, 'Hello Kim, how can I help?').waitFor();
    await tabTo(page, /^end-btn\|/, 'End chat');
    await page.keyboard.press('Enter');
    await res.page.getByText('The advisor ended the chat.').first().waitFor();
    // Away, from the keyboard.
    await tabTo(page, /^status-select\|/, 'the status selector');
    await page.keyboard.press('End');
    await page.keyboard.press('ArrowUp');
    assert.equal(await page.locator('#status-select').inputValue(), 'away');
    await tabTo(page, /^status-reason\|/, 'the away reason');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.locator('#status-now', { hasText: 'Away' }).waitFor();
  } catch (e) {
    console.error('desk state:', await focused(page), await page.locator('#conv-h').textContent(),
      await page.locator('#c-state').textContent(), await page.locator('#say-polite').textContent());
    throw e;
  } finally {
    await cleanUp(page);
    await res?.ctx.close();
    await ctx.close();
  }
});

test('desk: the connection drops and comes back; a reply written meanwhile is sent once, nothing lost', async () => {
  const { ctx, page, errors } = await deskPage(DESK);
  let res;
  try {
    await page.getByLabel('Login').fill(LOGIN);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#status-now', { hasText: 'Away' }).waitFor();
    await page.getByLabel('Change status to').selectOption('available');
    await page.getByRole('button', { name: 'Set status' }).click();
    await page.locator('#status-now', { hasText: 'Available' }).waitFor();
    res = await residentStarts('Rene Reconnect');
    await page.getByRole('button', { name: 'Accept' }).click();
    await page.getByRole('heading', { name: 'Web chat with Rene Reconnect' }).waitFor();
    await residentSays(res.page, 'Before the cut');
    await page.locator('#thread .msg.resident .txt', { hasText: 'Before the cut' }).waitFor();

    deskProxy.cut();
    await page.locator('#conn', { hasText: /Connection lost|Connecting/ }).waitFor();
    await page.getByLabel('Your reply').fill('Written while offline');
    await page.getByLabel('Your reply').press('Enter');
    await page.locator('#thread .msg.advisor .meta', { hasText: 'Not sent yet' }).waitFor();
    await residentSays(res.page, 'Said during the cut');
    await new Promise(r => setTimeout(r, 1500));
    deskProxy.restore();

    await wtext(res.page, 'Written while offline').waitFor({ timeout: 40000 });
    await page.locator('#thread .msg.resident .txt', { hasText: 'Said during the cut' }).waitFor({ timeout: 40000 });
    await page.locator('#thread .msg.advisor .meta', { hasText: /Sent|Read/ }).waitFor();
    await until(async () => (await page.locator('#conn').textContent()) === '', 'the connection banner to go');
    await page.locator('#status-now', { hasText: 'Available' }).waitFor();
    await new Promise(r => setTimeout(r, 500));
    const deskTexts = await page.locator('#thread .msg .txt').allTextContents();
    for (const x of ['Before the cut', 'Said during the cut', 'Written while offline']) {
      assert.equal(deskTexts.filter(y => y === x).length, 1, x);
    }
    const resTexts = await res.page.locator('switchboard-chat .log .m .txt').allTextContents();
    assert.equal(resTexts.filter(y => y === 'Written while offline').length, 1);
    await page.getByRole('button', { name: 'Release: closed' }).click();
    await page.locator('#c-state', { hasText: /left your list/ }).waitFor();
    await res.page.getByText('The advisor ended the chat.').first().waitFor();
    await goAway(page);
    assert.deepEqual(errors.filter(e => !/401|ERR_|WebSocket/.test(e)), []);
  } catch (e) {
    console.error('desk errors:', errors, await page.locator('#c-state').textContent().catch(() => ''));
    throw e;
  } finally {
    deskProxy.restore();
    await cleanUp(page);
    await res?.ctx.close();
    await ctx.close();
  }
});

test('desk: reflows at 320 px without scrolling sideways; watching a queue', async () => {
  const { ctx, page } = await deskPage();
  try {
    await page.setViewportSize({ width: 320, height: 640 });
    const wide = () => page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
    assert.equal(await wide(), false, 'sign-in page fits 320 px');
    await page.getByLabel('Login').fill(LOGIN);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#status-now', { hasText: 'Away' }).waitFor();
    assert.equal(await wide(), false, 'the desk fits 320 px');
    // Watching queues, chosen by name: none chosen is an error tied to the field.
    const qsel = page.getByLabel('Queue', { exact: true });
    await qsel.locator('option', { hasText: 'Council Tax' }).waitFor({ state: 'attached' });
    await page.getByRole('button', { name: 'Watch queue' }).click();
    await page.locator('#q-name-err', { hasText: 'Choose a queue' }).waitFor();
    assert.equal(await qsel.getAttribute('aria-describedby'), 'q-name-err');
    await qsel.selectOption({ label: 'Council Tax' });
    await page.getByRole('button', { name: 'Watch queue' }).click();
    await page.getByRole('heading', { name: 'Council Tax' }).waitFor();
    await page.getByText(/0 waiting to be picked/).waitFor();
    assert.equal(await wide(), false, 'the desk with a queue fits 320 px');
    await axe(page, 'desk watching a queue, 320 px');
    await page.getByRole('button', { name: 'Stop watching Council Tax' }).click();
    await page.getByRole('heading', { name: 'Council Tax' }).waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You have signed out.').waitFor();
  } finally {
    await ctx.close();
  }
});

test('desk: warned before the session ends for inactivity; staying signed in keeps it', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  // The page's clock is the test's: half an hour passes in an instant. The daemon's
  // clock is not faked, so the session itself stays live (its end is the integration
  // test test_session_idle.py's).
  await page.clock.install();
  try {
    await page.goto(SB + '/desk/');
    await page.getByLabel('Login').fill(LOGIN);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#status-now', { hasText: 'Away' }).waitFor();
    const dlg = page.getByRole('dialog', { name: 'You will be signed out soon' });
    assert.equal(await dlg.isVisible(), false);
    await page.getByLabel('Queue', { exact: true }).focus();
    // 29 minutes without using the desk (the default timeout is 30).
    await page.clock.fastForward('29:00');
    await dlg.waitFor();
    assert.match(await dlg.textContent(), /signed out in about a minute|signed out in 2 minutes/);
    assert.equal(await focused(page), 'idle-stay|btn|BUTTON');
    await axe(page, 'inactivity warning');
    await page.keyboard.press('Enter');
    await dlg.waitFor({ state: 'hidden' });
    await until(async () => /still signed in/.test(await page.locator('#say-polite').textContent()), 'announced');
    // Focus goes back where it was.
    assert.equal(await focused(page), 'q-name||SELECT');
    // Again; Escape answers it the same way.
    await page.clock.fastForward('29:00');
    await dlg.waitFor();
    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'hidden' });
    assert.equal(await page.locator('#desk').isVisible(), true);
    // And "Sign out" signs out.
    await page.clock.fastForward('29:00');
    await dlg.waitFor();
    await page.getByRole('button', { name: 'Sign out' }).last().click();
    await page.getByText('You have signed out.').waitFor();
  } finally {
    await ctx.close();
  }
});
