// End-to-end tests of the resident web chat widget (web-chat-widget/) in Debian's
// Chromium through playwright-core, against fake-chat-server.mjs: a scriptable server
// of switchboard.chat.v1 that can be put in every state (daemon.test.mjs runs the
// widget against the daemon itself).
// Run: node --test --test-concurrency=1 widget.test.mjs (or ./run).
import { test, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { axe as axeCheck, launch, until as untilDone } from './lib.mjs';
import { startServer } from './fake-chat-server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WIDGET = path.resolve(HERE, '../../web-chat-widget');

let browser, srv, ctx, page, cspErrors;

before(async () => {
  srv = await startServer();
  browser = await launch();
});
after(async () => { await browser?.close(); await srv?.close(); });
beforeEach(async () => {
  srv.opts.topics = srv.defaultTopics();
  srv.topicRequests = 0;
  srv.opts.closed.clear();
  srv.opts.replayAll = false;
  srv.refuse(false);
  ctx = await browser.newContext();
  page = await ctx.newPage();
  cspErrors = [];
  // CSP reports from code the test itself evaluates (axe-core sets inline styles)
  // carry no URL; those from the page, the widget or its modules do.
  page.on('console', m => {
    if (/Content Security Policy/i.test(m.text()) && m.location().url) cspErrors.push(m.text() + ' @ ' + m.location().url);
  });
  page.on('pageerror', e => cspErrors.push('page error: ' + e.message));
});
afterEach(async () => {
  await ctx.close();
  assert.deepEqual(cspErrors, [], 'no CSP violations or page errors');
});

const demo = () => page.goto(srv.url + '/widget/demo/');
const launcher = () => page.locator('switchboard-chat .launch');
const panel = () => page.locator('switchboard-chat .panel');
const texts = () => page.locator('switchboard-chat .log .m .txt').allTextContents();
// What has focus, looking through the widget's shadow root.
const focused = () => page.evaluate(() => {
  let a = document.activeElement;
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
  return a ? (a.id || a.className || a.tagName) + '|' + (a.textContent || '').trim().slice(0, 40) : '';
});
const until = (fn, what, ms = 10000) => untilDone(fn, what, ms);
const axe = state => axeCheck(page, state);
async function startChat(name = 'Alex Resident', email = 'alex@example.com') {
  await demo();
  await launcher().click();
  await page.getByLabel('Your name').fill(name);
  if (email) await page.getByLabel(/Email address/).fill(email);
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.getByText(/You are number 3 in the queue/).first().waitFor();
  return srv.conv();
}
async function chatting() {
  const c = await startChat();
  srv.assign(c.id, 'Sam');
  await page.locator('switchboard-chat .stat', { hasText: 'You are chatting with Sam' }).waitFor();
  return c;
}
async function send(text) {
  await page.getByLabel('Your message').fill(text);
  await page.getByLabel('Your message').press('Enter');
}

// 13.7 KB before the topics (topics.json, closed and unknown topics) came in; the
// daemon sends each file gzipped, so this is what a first view transfers in bodies.
test('shipped files are under 17 KB gzipped', () => {
  const files = fs.readdirSync(WIDGET).filter(f => /\.(js|css)$/.test(f));
  assert.ok(files.includes('widget.js') && files.includes('widget.css'));
  let total = 0;
  for (const f of files) total += zlib.gzipSync(fs.readFileSync(path.join(WIDGET, f)), { level: 9 }).length;
  console.log(`# widget gzipped size: ${total} bytes over ${files.join(' ')}`);
  assert.ok(total < 17 * 1024, `gzipped size ${total}`);
});

test('only one global, window.SwitchboardChat, with open() and close()', async () => {
  await page.route('**/widget/widget.js', r => r.abort());
  await demo();
  const bare = await page.evaluate(() => Object.keys(window));
  await page.unroute('**/widget/widget.js');
  await demo();
  await launcher().waitFor();
  const withWidget = await page.evaluate(() => Object.keys(window));
  assert.deepEqual(withWidget.filter(k => !bare.includes(k)), ['SwitchboardChat']);
  await page.evaluate(() => window.SwitchboardChat.open());
  await panel().waitFor();
  await page.evaluate(() => window.SwitchboardChat.close());
  await panel().waitFor({ state: 'hidden' });
});

test('keyboard only: launcher, pre-chat form, chatting, Escape and back', async () => {
  await demo();
  await launcher().waitFor();
  let f = '';
  for (let i = 0; i < 60 && !f.startsWith('launch'); i++) { await page.keyboard.press('Tab'); f = await focused(); }
  assert.match(f, /^launch/, 'Tab reaches the launcher');
  await page.keyboard.press('Enter');
  await panel().waitFor();
  // The topic first: whether it is open is said before anything is typed.
  assert.match(await focused(), /^sb-topic/, 'focus moves into the panel, on the topic');
  await page.keyboard.press('Tab');
  assert.match(await focused(), /^sb-name/);
  await page.keyboard.type('Kim Keyboard');
  for (let i = 0; i < 10 && !(await focused()).includes('Start chat'); i++) await page.keyboard.press('Tab');
  assert.match(await focused(), /Start chat/);
  await page.keyboard.press('Enter');
  await until(() => srv.received.some(m => m.type === 'chat.start' && m.name === 'Kim Keyboard'), 'chat.start');
  const c = srv.conv();
  srv.assign(c.id, 'Sam');
  await until(async () => (await focused()).startsWith('sb-msg'), 'focus on the message box once assigned');
  await page.keyboard.type('Hello from the keyboard');
  await page.keyboard.press('Enter');
  await until(() => c.messages.some(m => m.text === 'Hello from the keyboard'), 'message stored');
  await page.keyboard.press('Escape');
  await panel().waitFor({ state: 'hidden' });
  assert.match(await focused(), /^launch/, 'focus back on the launcher');
  assert.equal(await launcher().getAttribute('aria-expanded'), 'false');
  await page.keyboard.press('Enter');
  await panel().waitFor();
  assert.match(await focused(), /^sb-msg/);
});

test('validation errors are in text, tied to their fields, focus the first invalid field', async () => {
  await demo();
  await launcher().click();
  await page.getByLabel(/Email address/).fill('not-an-email');
  await page.getByLabel(/Mobile number/).fill('12');
  await page.getByRole('button', { name: 'Start chat' }).click();
  for (const [label, msg] of [['Your name', 'Enter your name'], [/Email address/, 'correct format'], [/Mobile number/, 'Enter a mobile number']]) {
    const el = page.getByLabel(label);
    assert.equal(await el.getAttribute('aria-invalid'), 'true');
    const desc = await el.evaluate(e => e.getAttribute('aria-describedby').split(' ')
      .map(id => e.getRootNode().getElementById(id).textContent).join(' '));
    assert.ok(desc.includes(msg) && desc.includes('Error:'), `${label}: ${desc}`);
  }
  assert.match(await focused(), /^sb-name/);
  await page.getByLabel('Your name').fill('Pat');
  await page.getByRole('button', { name: 'Start chat' }).click();
  assert.match(await focused(), /^sb-email/);
  assert.equal(await page.getByLabel('Your name').getAttribute('aria-invalid'), null);
  assert.ok(!srv.received.some(m => m.type === 'chat.start' && m.name === 'Pat'), 'nothing sent while invalid');
});

test('a message typed while the socket is down is sent once on reconnect and shown once', async () => {
  const c = await chatting();
  srv.refuse(true);
  srv.drop();
  await page.locator('switchboard-chat .conn').waitFor();
  await send('Typed while offline');
  await page.locator('switchboard-chat .st', { hasText: 'Waiting for connection' }).waitFor();
  await new Promise(r => setTimeout(r, 700));
  assert.ok(!srv.received.some(m => m.text === 'Typed while offline'), 'not sent while down');
  srv.refuse(false);
  await until(() => c.sends.size === 1, 'the message reached the server', 20000);
  await page.locator('switchboard-chat .st', { hasText: /Sent|Delivered/ }).waitFor();
  await new Promise(r => setTimeout(r, 300));
  const [cid] = [...c.sends.keys()];
  assert.equal(c.sends.get(cid), 1, 'client id seen exactly once');
  assert.equal(srv.received.filter(m => m.type === 'message.send' && m.client_id === cid).length, 1);
  assert.equal((await texts()).filter(t => t === 'Typed while offline').length, 1);
  const stored = await page.evaluate(() => JSON.parse(sessionStorage.getItem('switchboard.chat.v1')));
  assert.equal(stored.outbox.length, 0, 'outbox emptied by the ack');
});

test('reload resumes the same conversation, full history, no duplicates, after at most the last seq', async () => {
  const c = await chatting();
  srv.say(c.id, 'Hello, I am Sam. How can I help?');
  await send('My bill is wrong');
  await until(() => c.messages.length === 2, 'resident message stored');
  srv.status(c.id, c.messages[1].seq, 'read');
  await page.locator('switchboard-chat .st', { hasText: 'Read' }).waitFor();
  srv.say(c.id, 'See https://example.org/bands for the bands.');
  await page.getByText('for the bands').waitFor();
  const beforeReload = await texts();
  const lastSeq = c.messages.at(-1).seq;
  srv.refuse(true);
  await page.reload();
  await launcher().waitFor({ state: 'attached' });
  srv.say(c.id, 'Said while you were away');
  srv.opts.replayAll = true; // a replay that overlaps what is shown must not double it
  srv.refuse(false);
  await page.getByText('Said while you were away').waitFor({ timeout: 20000 });
  await new Promise(r => setTimeout(r, 300));
  assert.deepEqual(await texts(), [...beforeReload, 'Said while you were away']);
  const resume = srv.received.filter(m => m.type === 'chat.resume').at(-1);
  // Every message shown is younger than the resume margin: the replay starts from the top.
  assert.ok(resume.after <= lastSeq, 'resumed after ' + resume.after);
  assert.equal(srv.convs.size >= 1 && srv.conv().id, c.id, 'no new conversation');
  assert.ok(c.pages.length >= 2, 'page sent again after resume');
  assert.equal(await page.locator('switchboard-chat .st', { hasText: 'Read' }).count(), 1, 'read state kept');
});

test('nobody serves the topic now: "No advisor is free", with leave a message', async () => {
  srv.opts.unserved = true;
  try {
    await demo();
    await launcher().click();
    await page.getByLabel('Your name').fill('Una Unserved');
    await page.getByRole('button', { name: 'Start chat' }).click();
    await page.getByRole('heading', { name: 'No advisor is free' }).waitFor();
    await page.getByText('No advisor is available for this topic right now.').waitFor();
    assert.ok(await page.locator('switchboard-chat #sb-ltext').isVisible(), 'leave a message offered');
    await axe('nobody serves the topic');
  } finally {
    srv.opts.unserved = false;
  }
});

test('a transfer says where the chat goes, and waits for the next advisor (not "Connecting…")', async () => {
  const c = await chatting();
  srv.requeue(c.id, 'transferred', 'queue');
  await page.getByText('You are being transferred to another team.').waitFor();
  const stat = page.locator('switchboard-chat .stat');
  await stat.filter({ hasText: 'Waiting for the next advisor' }).waitFor();
  assert.doesNotMatch(await stat.textContent(), /Connecting|number 3/);
  await axe('transferred, waiting for the next advisor');
  srv.queue(c.id, 2, 30000);
  await stat.filter({ hasText: 'You are number 2 in the queue' }).waitFor();
  srv.assign(c.id, 'Kim');
  await stat.filter({ hasText: 'You are chatting with Kim' }).waitFor();
});

test('a message numbered below the newest but committed later is not lost on resume', async () => {
  const c = await chatting();
  srv.say(c.id, 'First answer');
  await page.getByText('First answer').waitFor();
  srv.say(c.id, 'Second answer');
  await page.getByText('Second answer').waitFor();
  srv.refuse(true);
  await page.reload();
  await launcher().waitFor({ state: 'attached' });
  srv.sayLate(c.id, 'Committed late elsewhere');
  srv.refuse(false);
  await page.getByText('Committed late elsewhere').waitFor({ timeout: 20000 });
  await new Promise(r => setTimeout(r, 300));
  const t = await texts();
  assert.deepEqual(t.filter(x => /answer|late/.test(x)), ['First answer', 'Committed late elsewhere', 'Second answer']);
  assert.equal(new Set(t).size, t.length, 'nothing shown twice');
});

test('host page styles do not reach the widget, widget styles do not reach the page', async () => {
  const props = ['color', 'font-family', 'font-size', 'text-transform', 'letter-spacing', 'background-color', 'margin-top', 'margin-bottom'];
  const hostStyles = () => page.evaluate(p => ['body', 'h1', 'p', 'button', 'a', 'input', 'header'].map(sel => {
    const cs = getComputedStyle(document.querySelector(sel));
    return sel + ':' + p.map(k => cs.getPropertyValue(k)).join(';');
  }), props);
  await page.route('**/widget/widget.js', r => r.abort());
  await demo();
  const bare = await hostStyles();
  await page.unroute('**/widget/widget.js');
  await demo();
  await launcher().click();
  await page.getByRole('button', { name: 'Start chat' }).waitFor();
  assert.deepEqual(await hostStyles(), bare, 'host elements unchanged by the widget');
  const widgetStyles = () => page.evaluate(p => {
    const r = document.querySelector('switchboard-chat').shadowRoot;
    return [r.querySelector('.pri'), r.querySelector('form p'), r.querySelector('.launch')].map(e => {
      const cs = getComputedStyle(e);
      return p.map(k => cs.getPropertyValue(k)).join(';');
    });
  }, props);
  const w = await widgetStyles();
  assert.match(w[0], /none/, 'the host rule button{text-transform:uppercase} does not apply');
  assert.doesNotMatch(w[1], /Georgia/, 'the host body font does not reach the widget');
  await page.evaluate(() => {
    const s = new CSSStyleSheet();
    s.replaceSync('button, p, body, switchboard-chat { color: rgb(255, 0, 0) !important; font-size: 40px !important; background-color: rgb(0, 255, 0) !important; margin: 30px !important; }');
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, s];
  });
  assert.match((await hostStyles())[3], /255, 0, 0/, 'the hostile sheet applies to the host page');
  assert.deepEqual(await widgetStyles(), w, 'and not to the widget');
});

test('axe: zero WCAG 2.2 AA violations in every state', async () => {
  await demo();
  await launcher().waitFor();
  await axe('closed');
  await launcher().click();
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.getByText('Enter your name').first().waitFor();
  await axe('pre-chat form with errors');
  await page.getByLabel('Your name').fill('Axe Tester');
  await page.getByLabel(/Email address/).fill('axe@example.com');
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.getByText(/number 3 in the queue/).first().waitFor();
  await axe('queued');
  const c = srv.conv();
  srv.assign(c.id, 'Sam');
  srv.say(c.id, 'Hello, see https://example.org/help');
  await send('Thanks');
  srv.typing(c.id, true);
  await page.getByText('Sam is typing…').waitFor();
  await page.locator('switchboard-chat .st', { hasText: /Sent|Delivered/ }).waitFor();
  await axe('chatting');
  srv.expiring(c.id, 30000);
  await page.getByRole('alertdialog').waitFor();
  await axe('inactivity warning');
  await page.getByRole('button', { name: 'I’m still here' }).click();
  srv.end(c.id, 'advisor');
  await page.getByText('The advisor ended the chat.').waitFor();
  await axe('ended');
  await page.getByRole('button', { name: 'Start a new chat' }).click();
  srv.closeQueue('council-tax');
  await page.getByLabel('Your name').fill('Axe Tester');
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.getByText('Our advisors are not online now.').waitFor();
  await axe('offline leave-message form');
});

test('queue positions update the status; advisor typing; links made safely', async () => {
  const c = await startChat();
  srv.queue(c.id, 2, 120000);
  await page.locator('switchboard-chat .stat', { hasText: 'You are number 2 in the queue. Estimated wait: about 2 minutes.' }).waitFor();
  srv.queue(c.id, 1, -1);
  await page.locator('switchboard-chat .stat', { hasText: /number 1 in the queue. We cannot estimate/ }).waitFor();
  await until(() => page.locator('switchboard-chat [role=status]').textContent().then(t => t.includes('number 1')), 'position 1 announced');
  assert.ok(await page.getByRole('button', { name: 'Leave a message instead' }).isVisible());
  srv.assign(c.id, 'Sam');
  srv.typing(c.id, true);
  await page.getByText('Sam is typing…').waitFor();
  srv.say(c.id, 'Try https://example.org/a?b=1, or javascript:alert(1) <img src=x onerror=alert(1)> ftp://x.test/');
  await page.getByText(/Try/).waitFor();
  assert.equal(await page.getByText('Sam is typing…').isVisible(), false, 'typing cleared by the message');
  const links = await page.evaluate(() => [...document.querySelector('switchboard-chat').shadowRoot.querySelectorAll('.log a')]
    .map(a => [a.getAttribute('href'), a.rel, a.target]));
  assert.deepEqual(links, [['https://example.org/a?b=1', 'noopener noreferrer', '_blank']]);
  assert.equal(await page.locator('switchboard-chat .log img').count(), 0);
  assert.ok((await texts()).some(t => t.includes('<img src=x onerror=alert(1)>')));
  assert.ok(c.reads.length > 0, 'message.read sent for the shown advisor message');
});

test('inactivity warning: alert dialog, focus on "I’m still here", sends session.extend', async () => {
  const c = await chatting();
  srv.expiring(c.id, 25000);
  const dlg = page.getByRole('alertdialog');
  await dlg.waitFor();
  assert.match(await dlg.textContent(), /about 25 seconds/);
  assert.match(await focused(), /still here/);
  await page.keyboard.press('Enter');
  await until(() => c.extended === 1, 'session.extend received');
  await dlg.waitFor({ state: 'hidden' });
});

test('ended: rating and transcript are sent; page changes are tracked', async () => {
  const c = await chatting();
  await page.evaluate(() => { location.hash = 'moving'; });
  await until(() => c.pages.some(p => p.url.endsWith('#moving')), 'page after hashchange');
  await page.evaluate(() => history.pushState({}, '', '/widget/demo/bands'));
  await until(() => c.pages.some(p => p.url.endsWith('/bands')), 'page after pushState (periodic check)', 5000);
  await page.getByRole('button', { name: 'End chat' }).click();
  await page.getByText('You ended the chat.').waitFor();
  await page.getByRole('button', { name: 'Send feedback' }).click();
  await page.getByText('Choose a rating from 1 to 5').waitFor();
  assert.equal(c.rating, null);
  await page.getByLabel('4 – good').check();
  await page.getByLabel(/Anything else/).fill('Quick and helpful');
  await page.getByRole('button', { name: 'Send feedback' }).click();
  await page.getByText('Thank you for your feedback.').waitFor();
  assert.deepEqual(c.rating, { score: 4, comment: 'Quick and helpful' });
  await page.getByRole('button', { name: 'Email me the transcript' }).click();
  await page.getByText('We will email the transcript to alex@example.com.').waitFor();
  assert.equal(c.transcript, 'alex@example.com');
});

test('closed queue: leave a message, reference shown', async () => {
  srv.closeQueue('council-tax');
  await demo();
  await launcher().click();
  await page.getByLabel('Your name').fill('Out Ofhours');
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.getByText('Our advisors are not online now.').waitFor();
  await page.getByRole('button', { name: 'Send message' }).click();
  assert.match(await focused(), /^sb-lemail/, 'contact details required');
  await page.getByLabel(/Mobile number/).fill('07700 900982');
  await page.locator('#sb-ltext').fill('Please call me about my bill.');
  await page.getByRole('button', { name: 'Send message' }).click();
  await page.getByText(/Your reference is LM-\d+/).waitFor();
  const left = srv.left.at(-1);
  assert.equal(left.name, 'Out Ofhours');
  assert.equal(left.mobile, '07700 900982');
  assert.equal(left.queue, 'council-tax');
});

test('an expired token clears the stored chat and shows the pre-chat form', async () => {
  const c = await chatting();
  srv.expire(c.id);
  srv.drop();
  await page.getByText('Your previous chat has ended').waitFor({ timeout: 15000 });
  assert.ok(await page.getByLabel('Your name').isVisible());
  const stored = await page.evaluate(() => JSON.parse(sessionStorage.getItem('switchboard.chat.v1')));
  assert.ok(!stored || !stored.token, 'token gone from storage');
});

test('reflow at 320 px: no horizontal scrolling with the panel open', async () => {
  await page.setViewportSize({ width: 320, height: 640 });
  await chatting();
  srv.say(srv.conv().id, 'A long address: https://example.org/' + 'x'.repeat(120));
  await page.getByText(/A long address/).waitFor();
  const m = await page.evaluate(() => {
    const r = document.querySelector('switchboard-chat').shadowRoot;
    const body = r.querySelector('.body');
    return { doc: document.documentElement.scrollWidth, body: body.scrollWidth - body.clientWidth, panel: r.querySelector('.panel').getBoundingClientRect().right };
  });
  assert.ok(m.doc <= 320, `document scrollWidth ${m.doc}`);
  assert.ok(m.body <= 0, `panel body scrolls sideways by ${m.body}`);
  assert.ok(m.panel <= 320, `panel right edge ${m.panel}`);
});

test('brand colour: kept when it passes 4.5:1 with white, darkened when it fails', async () => {
  await demo();
  await launcher().waitFor();
  const r = await page.evaluate(async () => {
    const { safeColour } = await import('/widget/chat.js');
    const lum = h => [1, 3, 5].map(i => parseInt(h.slice(i, i + 2), 16) / 255)
      .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
      .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
    const yellow = safeColour('#ffdd00');
    return { keep: safeColour('#1d70b8'), yellow, ratio: 1.05 / (lum(yellow) + 0.05), bad: safeColour('red;x') };
  });
  assert.equal(r.keep, '#1d70b8');
  assert.notEqual(r.yellow, '#ffdd00');
  assert.ok(r.ratio >= 4.5, `ratio ${r.ratio}`);
  assert.equal(r.bad, '#1d70b8');
  const bg = await launcher().evaluate(e => getComputedStyle(e).backgroundColor);
  assert.equal(bg, 'rgb(29, 112, 184)');
});

// ---- topics from the deployment (topics.json) ----
const SHOTS = process.env.SB_SHOTS || '';
const shot = async name => { if (SHOTS) await page.screenshot({ path: path.join(SHOTS, `widget-${name}.png`) }); };
// A page of the council's site with the widget's script tag and these data-* options.
async function councilPage(attrs) {
  const a = Object.entries(attrs).map(([k, v]) => ` data-${k}="${v}"`).join('');
  srv.opts.pages.set('/council.html', '<!doctype html><html lang="en-GB"><head><meta charset="utf-8">' +
    '<title>A council page</title></head><body><main><h1>Contact us</h1></main>' +
    `<script src="/widget/widget.js"${a} async></script></body></html>`);
  await page.goto(srv.url + '/council.html');
}
const topicSelect = () => page.getByLabel('What is your question about?');
const optionTexts = () => topicSelect().evaluate(s => [...s.options].map(o => o.textContent));
const hintText = () => page.locator('switchboard-chat #sb-topic-h').textContent();

test('topics come from the deployment; closed ones say so in the list', async () => {
  await demo();
  await launcher().click();
  await topicSelect().waitFor();
  assert.deepEqual(await optionTexts(), ['Bins and recycling', 'Council Tax', 'Housing (closed now)']);
  assert.equal(await topicSelect().inputValue(), 'council-tax', 'data-queue chosen');
  assert.equal(await hintText(), 'Open now.');
  assert.equal(srv.topicRequests, 1, 'topics.json asked once');
  await topicSelect().selectOption('bins');
  await page.getByLabel('Your name').fill('Bea Bins');
  await page.getByRole('button', { name: 'Start chat' }).click();
  await until(() => srv.received.some(m => m.type === 'chat.start' && m.queue === 'bins'), 'a chat in bins');
});

test('a closed topic says so, and when it opens, before the form; leave a message', async () => {
  const before = srv.received.length;
  await demo();
  await launcher().click();
  await topicSelect().selectOption('housing');
  const hint = await hintText();
  assert.match(hint, /^Closed now\. Chat opens again \w+ \d+ \w+ at 08:30\.$/);
  assert.ok(await page.locator('switchboard-chat #sb-topic-h').isVisible());
  assert.equal(await page.getByLabel('Your name').isVisible(), false, 'no form to fill in for a closed topic');
  assert.equal(await page.getByRole('button', { name: 'Start chat' }).isVisible(), false);
  await page.getByText('Our housing team is available Monday to Friday').waitFor();
  // The select tells it too (aria-describedby), for a screen reader on the select.
  const desc = await topicSelect().evaluate(e => e.getAttribute('aria-describedby').split(' ')
    .map(id => e.getRootNode().getElementById(id).textContent).join(' '));
  assert.equal(desc, hint);
  await axe('closed topic chosen');
  await shot('closed-topic');
  await page.getByRole('button', { name: 'Leave a message' }).click();
  await page.getByRole('heading', { name: 'Chat is closed' }).waitFor();
  await page.getByText(/Chat opens again \w+ \d+ \w+ at 08:30/).waitFor();
  await page.getByLabel('Your name').fill('Hal Housing');
  await page.getByLabel(/Email address/).fill('hal@example.com');
  await page.locator('switchboard-chat #sb-ltext').fill('My boiler is broken.');
  await page.getByRole('button', { name: 'Send message' }).click();
  await page.getByText(/Your reference is LM-\d+/).waitFor();
  assert.equal(srv.left.at(-1).queue, 'housing');
  assert.ok(!srv.received.slice(before).some(m => m.type === 'chat.start'), 'no chat was started');
  // Back to an open topic: the form again.
  await page.getByRole('button', { name: 'Start a new chat' }).click();
  await topicSelect().selectOption('council-tax');
  assert.ok(await page.getByLabel('Your name').isVisible());
});

test('a topic of the page that the deployment does not have: a visible error, and leave a message', async () => {
  await councilPage({ queue: 'parking', topics: 'council-tax=Council Tax;parking=Parking permits' });
  await launcher().click();
  await topicSelect().waitFor();
  assert.deepEqual(await optionTexts(), ['Council Tax', 'Parking permits (not available)']);
  assert.equal(await topicSelect().inputValue(), 'parking');
  const err = page.locator('switchboard-chat #sb-topic-h');
  assert.equal(await err.textContent(), 'Chat about Parking permits is not available.');
  assert.ok(await err.isVisible(), 'seen, not only read out');
  assert.equal(await err.evaluate(e => getComputedStyle(e).color), 'rgb(178, 30, 16)', 'shown as an error');
  assert.equal(await page.getByRole('button', { name: 'Start chat' }).isVisible(), false);
  await axe('unknown topic');
  await shot('unknown-topic');
  await page.getByRole('button', { name: 'Leave a message' }).click();
  await page.getByText('Chat about Parking permits is not available.').waitFor();
  // The message goes to a topic the deployment has.
  const pick = page.getByLabel('What is your message about?');
  assert.deepEqual(await pick.evaluate(s => [...s.options].map(o => o.value)), ['council-tax']);
  await page.getByLabel('Your name').fill('Pat Parker');
  await page.getByLabel(/Mobile number/).fill('07700 900982');
  await page.locator('switchboard-chat #sb-ltext').fill('Where do I renew my permit?');
  await axe('leave a message about another topic');
  await shot('unknown-topic-leave');
  await page.getByRole('button', { name: 'Send message' }).click();
  await page.getByText(/Your reference is LM-\d+/).waitFor();
  assert.equal(srv.left.at(-1).queue, 'council-tax');
});

test('a topic removed after the list was read: the start answers not_found, seen, with leave a message', async () => {
  await demo();
  await launcher().click();
  await topicSelect().selectOption('bins');
  srv.opts.topics.topics = srv.opts.topics.topics.filter(t => t.queue !== 'bins');
  await page.getByLabel('Your name').fill('Rae Removed');
  await page.getByLabel(/Email address/).fill('rae@example.com');
  await page.getByRole('button', { name: 'Start chat' }).click();
  const err = page.getByText('Chat about Bins and recycling is not available.');
  await err.waitFor();
  assert.ok(await err.isVisible());
  assert.equal(await page.locator('switchboard-chat .stat').isVisible(), false, 'not left at "Connecting…"');
  const pick = page.getByLabel('What is your message about?');
  assert.deepEqual(await pick.evaluate(s => [...s.options].map(o => o.value)), ['council-tax', 'housing']);
  await axe('topic gone after the start');
  await shot('topic-gone');
  await page.locator('switchboard-chat #sb-ltext').fill('About my bins.');
  await page.getByRole('button', { name: 'Send message' }).click();
  await page.getByText(/Your reference is LM-\d+/).waitFor();
  assert.equal(srv.left.at(-1).queue, 'council-tax');
  assert.equal(srv.left.at(-1).name, 'Rae Removed');
});

test('no topics to be had: said, with Try again; a page naming its topic still works', async () => {
  srv.opts.topics = null;
  await councilPage({});
  await launcher().click();
  const none = page.getByText('Chat is not available at the moment. Please try again later.');
  await none.waitFor();
  await axe('no topics');
  await shot('no-topics');
  srv.opts.topics = srv.defaultTopics();
  await page.getByRole('button', { name: 'Try again' }).click();
  await topicSelect().waitFor();
  assert.deepEqual(await optionTexts(), ['Bins and recycling', 'Council Tax', 'Housing (closed now)']);
  // The demo page names its topic (data-queue): a chat can start without the list.
  srv.opts.topics = null;
  await page.evaluate(() => sessionStorage.clear());
  await demo();
  await launcher().click();
  await topicSelect().waitFor();
  assert.deepEqual(await optionTexts(), ['council tax']);
  await page.getByLabel('Your name').fill('Noel Nolist');
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.getByText(/You are number 3 in the queue/).first().waitFor();
});

test('the loader asks for every file at once: one round trip after widget.js', async () => {
  const asked = new Map();
  let chatSent = 0;
  page.on('request', r => {
    const u = new URL(r.url());
    if (u.pathname.startsWith('/widget/') && !u.pathname.startsWith('/widget/demo/')) {
      asked.set(u.pathname, (asked.get(u.pathname) || []).concat(Date.now()));
    }
  });
  // chat.js answered late: nothing else may wait for it.
  await page.route('**/widget/chat.js', async r => {
    await new Promise(res => setTimeout(res, 1500));
    chatSent = Date.now();
    await r.continue();
  });
  await demo();
  await launcher().waitFor();
  for (const f of ['conn.js', 'dom.js', 'strings.js', 'widget.css', 'topics.json']) {
    const at = asked.get('/widget/' + f);
    assert.ok(at, f + ' asked for');
    assert.ok(at[0] < chatSent, f + ' asked for before chat.js arrived');
  }
  for (const [f, at] of asked) assert.equal(at.length, 1, f + ' asked for once');
});
