// End-to-end tests of the resident web chat widget against the REAL daemon (started by
// ./run with a throwaway PostgreSQL and Redis): a resident in one browser context, an
// advisor in another speaking the desk protocol (switchboard.v1) from a page of the
// daemon's origin with a real staff session. The resident's pages come through a TCP
// proxy run here, so the test can cut the network and restore it.
// Environment (set by ./run): SB_URL, SB_PROXY_PORT, SB_LOGIN, SB_PASSWORD.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { axe, launch, startProxy, until } from './lib.mjs';

const SB = process.env.SB_URL;
const RES = `http://localhost:${process.env.SB_PROXY_PORT}`;
let browser, proxy;


before(async () => {
  assert.ok(SB, 'SB_URL is set by tests/e2e/run');
  proxy = await startProxy(+process.env.SB_PROXY_PORT, new URL(SB));
  browser = await launch();
});
after(async () => { await browser?.close(); await proxy?.close(); });


// ---- the advisor: a staff session and a desk socket in a browser page ----
async function openDesk() {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(SB + '/desk/');
  await page.evaluate(async ({ login, password }) => {
    const r = await fetch('/api/session', { method: 'POST', body: JSON.stringify({ login, password }),
      headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'switchboard' } });
    if (!r.ok) throw new Error('sign-in answered ' + r.status);
    window.__got = [];
    window.__used = new Set();
    await new Promise((resolve, reject) => {
      const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws', 'switchboard.v1');
      window.__ws = ws;
      ws.onmessage = e => {
        const m = JSON.parse(e.data);
        window.__got.push(m);
        if (m.type === 'desk.ready') resolve();
      };
      ws.onclose = e => { window.__got.push({ type: '__closed', code: e.code }); reject(new Error('desk closed')); };
    });
  }, { login: process.env.SB_LOGIN, password: process.env.SB_PASSWORD });
  const desk = {
    ctx, page,
    send: m => page.evaluate(m => window.__ws.send(JSON.stringify(m)), m),
    // The first message of this type and fields not taken before.
    take: async (type, match = {}, ms = 15000) => {
      const h = await page.waitForFunction(([type, match]) => {
        const i = window.__got.findIndex((m, i) => !window.__used.has(i) && m.type === type &&
          Object.entries(match).every(([k, v]) => String(m[k]) === String(v)));
        if (i < 0) return null;
        window.__used.add(i);
        return window.__got[i];
      }, [type, match], { timeout: ms });
      return h.jsonValue();
    },
    count: (type, match) => page.evaluate(([type, match]) => window.__got.filter(m => m.type === type &&
      Object.entries(match).every(([k, v]) => String(m[k]) === String(v))).length, [type, match])
  };
  await desk.send({ type: 'desk.status', status: 'available', id: 'st' });
  await desk.take('desk.status.ok');
  return desk;
}

// ---- the resident ----
const launcher = page => page.locator('switchboard-chat .launch');
const texts = page => page.locator('switchboard-chat .log .m .txt').allTextContents();
const shown = (page, text, timeout = 15000) =>
  page.locator('switchboard-chat .log .m .txt', { hasText: text }).first().waitFor({ timeout });
async function send(page, text) {
  await page.getByLabel('Your message').fill(text);
  await page.getByLabel('Your message').press('Enter');
}
async function residentPage() {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', e => errors.push(e.message));
  return { ctx, page, errors };
}
// Offer to the desk, accepted, history asked (the desk follows the chat).
async function accept(desk) {
  const offer = await desk.take('offer');
  await desk.send({ type: 'offer.accept', conversation: offer.conversation, id: 'acc' + offer.conversation });
  await desk.take('offer.accepted', { id: 'acc' + offer.conversation });
  await desk.send({ type: 'chat.history', conversation: offer.conversation, id: 'h' + offer.conversation });
  const h = await desk.take('chat.history', { id: 'h' + offer.conversation });
  return { conv: offer.conversation, history: h };
}
async function say(desk, conv, text) {
  const id = crypto.randomUUID();
  await desk.send({ type: 'chat.send', conversation: conv, client_id: id, text, id });
  return (await desk.take('chat.sent', { id })).seq;
}

test('resident and advisor chat; reload, another page and a cut network lose and double nothing; rating', async () => {
  const desk = await openDesk();
  const { ctx, page, errors } = await residentPage();
  await page.goto(RES + '/widget/demo/');
  await launcher(page).click();
  await axe(page, 'pre-chat form');
  await page.getByLabel('Your name').fill('Alex Resident');
  await page.getByLabel(/Email address/).fill('alex@example.com');
  await page.getByRole('button', { name: 'Start chat' }).click();
  const { conv, history } = await accept(desk);
  assert.equal(history.customer.email, 'alex@example.com');
  assert.equal(history.page.url, RES + '/widget/demo/');
  await page.locator('switchboard-chat .stat', { hasText: 'You are chatting with Sam Advisor' }).waitFor();

  // Both ways, with delivered and read states.
  await send(page, 'My bill looks wrong');
  const m1 = await desk.take('chat.message', { conversation: conv, text: 'My bill looks wrong' });
  await page.locator('switchboard-chat .st', { hasText: 'Delivered' }).waitFor();
  await desk.send({ type: 'chat.read', conversation: conv, seq: m1.seq, id: 'rd' });
  await page.locator('switchboard-chat .st', { hasText: 'Read' }).waitFor();
  await desk.send({ type: 'chat.typing', conversation: conv, state: true });
  await page.locator('switchboard-chat .typing', { hasText: 'Sam Advisor is typing…' }).waitFor();
  await say(desk, conv, 'Let me check that for you: https://www.gov.uk/council-tax');
  await shown(page, 'Let me check that for you');
  const link = page.locator('switchboard-chat .log a', { hasText: 'https://www.gov.uk/council-tax' });
  assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
  await axe(page, 'chatting');

  // Reload: the same chat, the whole history, once.
  await page.reload();
  await shown(page, 'Let me check that for you');
  await say(desk, conv, 'Said after your reload');
  await shown(page, 'Said after your reload');
  // Another page of the site: resumed, and the advisor sees where the resident is.
  await page.goto(RES + '/widget/demo/?section=discounts');
  await shown(page, 'Said after your reload');
  await desk.take('chat.page', { conversation: conv, url: RES + '/widget/demo/?section=discounts' });
  let t = await texts(page);
  for (const x of ['My bill looks wrong', 'Said after your reload']) assert.equal(t.filter(y => y === x).length, 1, x);

  // The network goes: typed meanwhile, the advisor writes meanwhile; back: each once.
  proxy.cut();
  await page.locator('switchboard-chat .conn').waitFor();
  await send(page, 'Typed while offline');
  await page.locator('switchboard-chat .st', { hasText: 'Waiting for connection' }).waitFor();
  await say(desk, conv, 'Are you still there?');
  await new Promise(r => setTimeout(r, 1000));
  proxy.restore();
  await desk.take('chat.message', { conversation: conv, text: 'Typed while offline' }, 30000);
  await shown(page, 'Are you still there?', 30000);
  await new Promise(r => setTimeout(r, 500));
  t = await texts(page);
  for (const x of ['Typed while offline', 'Are you still there?', 'My bill looks wrong']) {
    assert.equal(t.filter(y => y === x).length, 1, x);
  }
  assert.equal(await desk.count('chat.message', { text: 'Typed while offline' }), 1);

  // The advisor ends it; the resident rates it.
  await desk.send({ type: 'chat.end', conversation: conv, id: 'end' });
  await desk.take('chat.end.ok', { id: 'end' });
  await page.getByText('The advisor ended the chat.').first().waitFor();
  await axe(page, 'ended');
  await page.getByLabel('4 – good').check();
  await page.getByRole('button', { name: 'Send feedback' }).click();
  await page.getByText('Thank you for your feedback.').first().waitFor();
  await page.getByRole('button', { name: 'Email me the transcript' }).click();
  await page.getByText('We will email the transcript to alex@example.com.').first().waitFor();
  assert.deepEqual(errors, []);
  await ctx.close();
  await desk.ctx.close();
});

test('keyboard only: a chat started, a message sent and answered, without a mouse', async () => {
  const desk = await openDesk();
  const { ctx, page } = await residentPage();
  await page.goto(RES + '/widget/demo/');
  await launcher(page).waitFor();
  const focused = () => page.evaluate(() => {
    let a = document.activeElement;
    while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
    return a ? (a.id || a.className || a.tagName) + '|' + (a.textContent || '').trim().slice(0, 40) : '';
  });
  let f = '';
  for (let i = 0; i < 60 && !f.startsWith('launch'); i++) { await page.keyboard.press('Tab'); f = await focused(); }
  assert.match(f, /^launch/);
  await page.keyboard.press('Enter');
  await until(async () => /^sb-name/.test(await focused()), 'focus in the name field');
  await page.keyboard.type('Kim Keyboard');
  for (let i = 0; i < 10 && !(await focused()).includes('Start chat'); i++) await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  const { conv } = await accept(desk);
  await until(async () => (await focused()).startsWith('sb-msg'), 'focus on the message box once assigned');
  await page.keyboard.type('Hello from the keyboard');
  await page.keyboard.press('Enter');
  await desk.take('chat.message', { conversation: conv, text: 'Hello from the keyboard' });
  await say(desk, conv, 'Hello Kim');
  await shown(page, 'Hello Kim');
  await desk.send({ type: 'chat.end', conversation: conv, id: 'end' });
  await page.getByText('The advisor ended the chat.').first().waitFor();
  await ctx.close();
  await desk.ctx.close();
});

test('out of hours: leave a message, with a reference from the daemon', async () => {
  const desk = await openDesk();
  const { ctx, page } = await residentPage();
  await page.goto(RES + '/widget/demo/');
  await launcher(page).click();
  await page.getByLabel('Your name').fill('Lou Late');
  await page.getByLabel('What is your question about?').selectOption('bins');
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.getByRole('heading', { name: 'Chat is closed' }).waitFor();
  await axe(page, 'closed, leave a message');
  await page.getByLabel(/Email address/).fill('lou@example.org');
  await page.locator('switchboard-chat #sb-ltext').fill('My bin was not collected on Monday.');
  await page.getByRole('button', { name: 'Send message' }).click();
  const line = await page.getByText(/Your reference is SB[0-9]+\./).first().textContent();
  assert.match(line, /SB[0-9]+/);
  await axe(page, 'message left');
  await ctx.close();
  await desk.ctx.close();
});
