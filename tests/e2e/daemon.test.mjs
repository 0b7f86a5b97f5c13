// End-to-end tests of the resident web chat widget against the REAL daemon (started by
// ./run with a throwaway PostgreSQL and Redis): a resident in one browser context, an
// advisor in another speaking the desk protocol (switchboard.v1) from a page of the
// daemon's origin with a real staff session. The resident's pages come through a TCP
// proxy run here, so the test can cut the network and restore it. A council's own site
// (a page served here, on another origin) embeds the widget from the daemon. The demo
// council page is tested against a second daemon seeded with config/demo-seed.sql.
// Environment (set by ./run): SB_URL, SB_PROXY_PORT, SB_COUNCIL_PORT, SB_LOGIN,
// SB_PASSWORD, SB_DEMO_URL, SB_DEMO_LOGIN, SB_DEMO_PASSWORD, SB_PSQL, SB_PG_PORT, SB_SHOTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { axe, launch, startProxy, until } from './lib.mjs';

const SB = process.env.SB_URL;
const RES = `http://localhost:${process.env.SB_PROXY_PORT}`;
const COUNCIL = `http://localhost:${process.env.SB_COUNCIL_PORT}`;
const DEMO = process.env.SB_DEMO_URL;
let browser, proxy, council;
// The council site's pages: path -> HTML.
const councilPages = new Map();


before(async () => {
  assert.ok(SB, 'SB_URL is set by tests/e2e/run');
  proxy = await startProxy(+process.env.SB_PROXY_PORT, new URL(SB));
  council = http.createServer((req, res) => {
    const page = councilPages.get(new URL(req.url, COUNCIL).pathname);
    res.writeHead(page ? 200 : req.url === '/favicon.ico' ? 204 : 404, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page || 'not found');
  });
  await new Promise(r => council.listen(+process.env.SB_COUNCIL_PORT, '127.0.0.1', r));
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await proxy?.close();
  await new Promise(r => (council ? council.close(() => r()) : r()));
});
const shot = async (page, name) => {
  if (process.env.SB_SHOTS) await page.screenshot({ path: path.join(process.env.SB_SHOTS, `daemon-${name}.png`) });
};


// ---- the advisor: a staff session and a desk socket in a browser page ----
async function openDesk(base = SB, login = process.env.SB_LOGIN, password = process.env.SB_PASSWORD) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(base + '/desk/');
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
  }, { login, password });
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
  await desk.send({ type: 'conversation.history', conversation: offer.conversation, id: 'h' + offer.conversation });
  const h = await desk.take('conversation.history', { id: 'h' + offer.conversation });
  return { conv: offer.conversation, history: h };
}
async function say(desk, conv, text) {
  const id = crypto.randomUUID();
  await desk.send({ type: 'conversation.reply', conversation: conv, client_id: id, text, id });
  return (await desk.take('conversation.replied', { id })).seq;
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
  const m1 = await desk.take('conversation.message', { conversation: conv, text: 'My bill looks wrong' });
  await page.locator('switchboard-chat .st', { hasText: 'Delivered' }).waitFor();
  await desk.send({ type: 'conversation.read', conversation: conv, seq: m1.seq, id: 'rd' });
  await page.locator('switchboard-chat .st', { hasText: 'Read' }).waitFor();
  await desk.send({ type: 'conversation.typing', conversation: conv, state: true });
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
  await desk.take('conversation.message', { conversation: conv, text: 'Typed while offline' }, 30000);
  await shown(page, 'Are you still there?', 30000);
  await new Promise(r => setTimeout(r, 500));
  t = await texts(page);
  for (const x of ['Typed while offline', 'Are you still there?', 'My bill looks wrong']) {
    assert.equal(t.filter(y => y === x).length, 1, x);
  }
  assert.equal(await desk.count('conversation.message', { text: 'Typed while offline' }), 1);

  // The advisor ends it; the resident rates it.
  await desk.send({ type: 'conversation.end', conversation: conv, id: 'end' });
  await desk.take('conversation.end.ok', { id: 'end' });
  await page.getByText('The advisor ended the chat.').first().waitFor();
  await axe(page, 'ended');
  await page.getByLabel('4 – good').check();
  await page.getByRole('button', { name: 'Send feedback' }).click();
  await page.getByText('Thank you for your feedback.').first().waitFor();
  await page.getByRole('button', { name: 'Email me the transcript' }).click();
  // The address was only typed: a link to confirm it goes first (chat-protocol.md).
  await page.getByText('We have emailed alex@example.com a link. Open it to confirm the address').first().waitFor();
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
  await until(async () => /^sb-topic/.test(await focused()), 'focus on the topic, first');
  await page.keyboard.press('Tab');
  assert.match(await focused(), /^sb-name/);
  await page.keyboard.type('Kim Keyboard');
  for (let i = 0; i < 10 && !(await focused()).includes('Start chat'); i++) await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  const { conv } = await accept(desk);
  await until(async () => (await focused()).startsWith('sb-msg'), 'focus on the message box once assigned');
  await page.keyboard.type('Hello from the keyboard');
  await page.keyboard.press('Enter');
  await desk.take('conversation.message', { conversation: conv, text: 'Hello from the keyboard' });
  await say(desk, conv, 'Hello Kim');
  await shown(page, 'Hello Kim');
  await desk.send({ type: 'conversation.end', conversation: conv, id: 'end' });
  await page.getByText('The advisor ended the chat.').first().waitFor();
  await ctx.close();
  await desk.ctx.close();
});

test('out of hours: told before the form, then leave a message, with a reference from the daemon', async () => {
  const desk = await openDesk();
  const { ctx, page } = await residentPage();
  await page.goto(RES + '/widget/demo/');
  await launcher(page).click();
  const topic = page.getByLabel('What is your question about?');
  // The daemon's topics: bins is closed today (a closure day), opens tomorrow.
  assert.deepEqual(await topic.evaluate(s => [...s.options].map(o => o.textContent)),
    ['Bins and recycling (closed now)', 'Council Tax', 'Texts']);
  await topic.selectOption('bins');
  await page.locator('switchboard-chat #sb-topic-h', { hasText: /^Closed now\. Chat opens again / }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Start chat' }).isVisible(), false);
  await axe(page, 'closed topic chosen');
  await shot(page, 'closed-topic');
  await page.getByRole('button', { name: 'Leave a message' }).click();
  await page.getByRole('heading', { name: 'Chat is closed' }).waitFor();
  await axe(page, 'closed, leave a message');
  await page.getByLabel('Your name').fill('Lou Late');
  await page.getByLabel(/Email address/).fill('lou@example.org');
  await page.locator('switchboard-chat #sb-ltext').fill('My bin was not collected on Monday.');
  await page.getByRole('button', { name: 'Send message' }).click();
  const line = await page.getByText(/Your reference is SB[0-9]+\./).first().textContent();
  assert.match(line, /SB[0-9]+/);
  await axe(page, 'message left');
  await ctx.close();
  await desk.ctx.close();
});

// A council page on its own site (another origin, in widget_origins) with the one script tag
// pointing at the daemon, as the README says to embed it.
function councilPage(name, attrs) {
  const a = Object.entries(attrs).map(([k, v]) => ` data-${k}="${v}"`).join('');
  councilPages.set('/' + name, '<!doctype html><html lang="en-GB"><head><meta charset="utf-8">' +
    '<title>Contact us – a council</title></head><body><main><h1>Contact us</h1></main>' +
    `<script src="${SB}/widget/widget.js"${a} async></script></body></html>`);
  return COUNCIL + '/' + name;
}

test('embedded by a page of another origin: modules, styles and topics load (CORS), a chat works', async () => {
  const desk = await openDesk();
  const { ctx, page, errors } = await residentPage();
  const consoleErrors = [];
  page.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  await page.goto(councilPage('tax.html', { queue: 'council-tax' }));
  await launcher(page).click();
  const topic = page.getByLabel('What is your question about?');
  assert.deepEqual(await topic.evaluate(s => [...s.options].map(o => o.textContent)),
    ['Bins and recycling (closed now)', 'Council Tax', 'Texts']);
  await axe(page, 'pre-chat form on another origin');
  await page.getByLabel('Your name').fill('Cora Crossorigin');
  await page.getByRole('button', { name: 'Start chat' }).click();
  const { conv, history } = await accept(desk);
  assert.equal(history.page.url, COUNCIL + '/tax.html');
  await page.locator('switchboard-chat .stat', { hasText: 'You are chatting with Sam Advisor' }).waitFor();
  await send(page, 'Hello from the council site');
  await desk.take('conversation.message', { conversation: conv, text: 'Hello from the council site' });
  await desk.send({ type: 'conversation.end', conversation: conv, id: 'end' });
  await page.getByText('The advisor ended the chat.').first().waitFor();
  assert.deepEqual(errors, []);
  assert.deepEqual(consoleErrors, []);
  await ctx.close();
  await desk.ctx.close();
});

test('a topic of the page that the daemon does not have: seen at once, and a message left about another', async () => {
  const { ctx, page } = await residentPage();
  await page.goto(councilPage('parking.html', { queue: 'parking', topics: 'council-tax=Council Tax;parking=Parking' }));
  await launcher(page).click();
  const err = page.locator('switchboard-chat #sb-topic-h');
  await err.waitFor();
  assert.equal(await err.textContent(), 'Chat about Parking is not available.');
  assert.ok(await err.isVisible());
  await axe(page, 'unknown topic');
  await shot(page, 'unknown-topic');
  await page.getByRole('button', { name: 'Leave a message' }).click();
  assert.deepEqual(await page.getByLabel('What is your message about?').evaluate(s => [...s.options].map(o => o.value)),
    ['council-tax']);
  await page.getByLabel('Your name').fill('Pat Parker');
  await page.getByLabel(/Email address/).fill('pat@example.org');
  await page.locator('switchboard-chat #sb-ltext').fill('Where do I renew my parking permit?');
  await axe(page, 'leave a message about another topic');
  await page.getByRole('button', { name: 'Send message' }).click();
  await page.getByText(/Your reference is SB[0-9]+\./).first().waitFor();
  await ctx.close();
});

// The demo council (config/demo-seed.sql, every queue open for the test) and its advisor.
const demoSql = sql => execFileSync(process.env.SB_PSQL, ['-X', '-q', '-tA', '-h', '127.0.0.1', '-p',
  process.env.SB_PG_PORT, '-U', 'switchboard', '-d', 'switchboard_demo', '-c', sql], { encoding: 'utf8' }).trim();

test('the demo page starts a chat in every demo queue that takes chat', async t => {
  if (!DEMO) return t.skip('SB_DEMO_URL not set');
  const ids = new Map(demoSql(`SELECT q.slug, q.id FROM queues q JOIN queue_channels c ON c.queue_id = q.id
    AND c.channel = 'chat' WHERE q.active ORDER BY q.name`).split('\n').map(l => l.split('|')));
  assert.deepEqual([...ids.keys()], ['complaints', 'council-tax', 'housing-repairs', 'waste-recycling']);
  const desk = await openDesk(DEMO, process.env.SB_DEMO_LOGIN, process.env.SB_DEMO_PASSWORD);
  for (const [slug, id] of ids) {
    const { ctx, page, errors } = await residentPage();
    await page.goto(DEMO + '/widget/demo/');
    await launcher(page).click();
    const topic = page.getByLabel('What is your question about?');
    assert.deepEqual(await topic.evaluate(s => [...s.options].map(o => o.textContent)),
      ['Complaints and Compliments', 'Council Tax', 'Housing Repairs', 'Waste and Recycling']);
    await topic.selectOption(slug);
    assert.equal(await page.locator('switchboard-chat #sb-topic-h').textContent(), 'Open now.');
    if (slug === 'council-tax') await axe(page, 'demo page, pre-chat form');
    await page.getByLabel('Your name').fill('Dana Demo');
    await page.getByRole('button', { name: 'Start chat' }).click();
    const offer = await desk.take('offer');
    assert.equal(String(offer.queue), id, `the chat waits in ${slug}`);
    await desk.send({ type: 'offer.accept', conversation: offer.conversation, id: 'acc' + offer.conversation });
    await desk.take('offer.accepted', { id: 'acc' + offer.conversation });
    await desk.send({ type: 'conversation.history', conversation: offer.conversation, id: 'h' + offer.conversation });
    await desk.take('conversation.history', { id: 'h' + offer.conversation });
    await page.locator('switchboard-chat .stat', { hasText: 'You are chatting with Dee Demo' }).waitFor();
    await send(page, 'A question about ' + slug);
    await desk.take('conversation.message', { conversation: offer.conversation, text: 'A question about ' + slug });
    await desk.send({ type: 'conversation.end', conversation: offer.conversation, id: 'end' + slug });
    await desk.take('conversation.end.ok', { id: 'end' + slug });
    await page.getByText('The advisor ended the chat.').first().waitFor();
    assert.deepEqual(errors, []);
    await ctx.close();
  }
  await desk.ctx.close();
});
