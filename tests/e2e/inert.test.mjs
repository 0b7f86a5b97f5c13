// Script and markup through every field a resident (or staff) can fill, end to end
// through the real daemon, into every place the desk and the widget show it: each must
// appear as the same text, and none may run or become an element. Today's channel is
// web chat (email, SMS and voice have no fields yet): the resident's name, email, the
// page title and address they are on, their messages; an advisor's display name and
// their reply, an internal note. Advisor `ivy` (display name hostile too), queue
// council-tax; run by ./run after the other desk files, never beside them.
// Environment (set by ./run): SB_URL, SB_PROXY_PORT, SB_LOGIN, SB_PASSWORD.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startProxy } from './lib.mjs';

const SB = process.env.SB_URL;
const RES = `http://localhost:${process.env.SB_PROXY_PORT}`;
const LOGIN = process.env.SB_LOGIN;
const PASSWORD = process.env.SB_PASSWORD;
let browser, proxy;

before(async () => {
  assert.ok(SB, 'SB_URL is set by tests/e2e/run');
  proxy = await startProxy(+process.env.SB_PROXY_PORT, new URL(SB));
  browser = await launch();
});
after(async () => { await browser?.close(); await proxy?.close(); });

// Each payload sets window.__pwned (or fetches /pwned) if it ever runs.
const NAME = `<img src=x onerror="window.__pwned='name'">Hana`;
// The daemon takes an email address only as an RFC 5321 dot-atom (gateway/core/identity.c:
// no < > , ; " or spaces), and so does the widget: an apostrophe, and entities that HTML
// would decode even without their semicolons, are what an address can carry.
const EMAIL = `o'hara&amp&lt{{x}}@example.com`;
const TITLE = `<svg onload="window.__pwned='title'">Council Tax</svg>`;
const MSG = `<script>window.__pwned='msg'</script><b>bold</b> &lt;i&gt; {{7*7}} \${7*7}`;
const MSG2 = `<iframe srcdoc="<script>parent.__pwned='iframe'</script>"></iframe>`;
const REPLY = `<a href="javascript:window.__pwned='link'">click</a><img src=x onerror="window.__pwned='reply'">`;
const NOTE = `<style>*{display:none}</style><form action=/pwned><button>go</button></form>`;
// The advisor's display name, set by ./run (switchboard user add --name).
const ADVISOR = `Ivy <img src=x onerror="window.__pwned='advisor'">`;

// Elements a payload would have made, anywhere in the page or the widget's shadow root.
async function injected(page) {
  return page.evaluate(() => {
    const roots = [document, ...[...document.querySelectorAll('*')].filter(e => e.shadowRoot).map(e => e.shadowRoot)];
    const bad = [];
    for (const r of roots) {
      for (const e of r.querySelectorAll('img[src="x"], svg[onload], iframe, main script, form[action="/pwned"], style:not(head style), a[href^="javascript:"], b, i')) {
        bad.push(e.outerHTML.slice(0, 80));
      }
    }
    return { pwned: window.__pwned ?? null, bad };
  });
}

test('markup and script are inert in every field, on the desk and in the widget', async () => {
  const desk = await (await browser.newContext()).newPage();
  const deskErrors = [];
  desk.on('pageerror', e => deskErrors.push(e.message));
  const dialogs = [];
  desk.on('dialog', d => { dialogs.push(d.message()); d.dismiss(); });
  const resCtx = await browser.newContext();
  const res = await resCtx.newPage();
  res.on('dialog', d => { dialogs.push(d.message()); d.dismiss(); });
  const hits = [];
  for (const p of [desk, res]) {
    await p.route('**/pwned**', r => { hits.push(r.request().url()); r.abort(); });
  }
  try {
    await desk.goto(SB + '/desk/');
    await desk.getByLabel('Login').fill(LOGIN);
    await desk.getByLabel('Password').fill(PASSWORD);
    await desk.getByRole('button', { name: 'Sign in' }).click();
    await desk.locator('#who-name').filter({ hasText: 'Ivy' }).waitFor();
    assert.equal(await desk.locator('#who-name').textContent(), ADVISOR);
    await desk.getByLabel('Change status to').selectOption('available');
    await desk.getByRole('button', { name: 'Set status' }).click();
    await desk.locator('#status-now', { hasText: 'Available' }).waitFor();

    // The resident: a hostile page title and address, name and email.
    await res.goto(RES + '/widget/demo/?q=%3Cscript%3Ewindow.__pwned%3D1%3C%2Fscript%3E');
    await res.evaluate(t => { document.title = t; }, TITLE);
    await res.locator('switchboard-chat .launch').click();
    await res.getByLabel('Your name').fill(NAME);
    await res.getByLabel(/Email address/).fill(EMAIL);
    await res.getByRole('button', { name: 'Start chat' }).click();

    // The offer, then the conversation: every place the name is shown.
    const offer = desk.locator('.offer').first();
    await offer.waitFor();
    await offer.getByRole('button', { name: /Accept/ }).click();
    await desk.locator('#c-customer').filter({ hasText: 'Hana' }).waitFor();
    assert.equal(await desk.locator('#conv-h').textContent(), `Web chat with ${NAME}`);
    assert.match(await desk.locator('#c-customer').textContent(), new RegExp('^' + NAME.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.ok((await desk.locator('#c-contact').textContent()).includes(EMAIL));
    await desk.locator('#c-page').filter({ hasText: 'Council Tax' }).waitFor();
    assert.match(await desk.locator('#c-page').textContent(), /<svg onload=/);
    assert.match(await desk.locator('#c-page').textContent(), /<script>window.__pwned=1<\/script>|%3Cscript%3E/);
    assert.match(await desk.locator('#inbox').textContent(), /<img src=x onerror=/);
    // The widget shows the advisor's name as text.
    await res.locator('switchboard-chat .stat', { hasText: 'You are chatting with Ivy' }).waitFor();
    assert.ok((await res.locator('switchboard-chat .stat').textContent()).includes(ADVISOR));

    // Messages both ways, a typing indicator, an internal note.
    await res.getByLabel('Your message').fill(MSG);
    await res.getByLabel('Your message').press('Enter');
    await res.getByLabel('Your message').fill(MSG2);
    await res.getByLabel('Your message').press('Enter');
    const t2 = desk.locator('#thread .msg.resident .txt', { hasText: 'iframe' });
    await t2.waitFor();
    assert.equal(await desk.locator('#thread .msg.resident .txt').first().textContent(), MSG);
    assert.equal(await t2.textContent(), MSG2);
    await res.getByLabel('Your message').pressSequentially('typing', { delay: 30 });
    await desk.locator('#c-typing', { hasText: 'is typing' }).waitFor();
    assert.equal(await desk.locator('#c-typing').textContent(), `${NAME} is typing…`.replace('…', (await desk.locator('#c-typing').textContent()).endsWith('…') ? '…' : ''));
    await res.getByLabel('Your message').fill('');
    await desk.getByLabel('Your reply').fill(REPLY);
    await desk.getByLabel('Your reply').press('Enter');
    const w = res.locator('switchboard-chat .log .m .txt', { hasText: 'javascript:' });
    await w.waitFor();
    assert.equal(await w.textContent(), REPLY);
    await desk.getByText('Add an internal note').click();
    await desk.locator('#n-text').fill(NOTE);
    await desk.getByRole('button', { name: 'Add note' }).click();
    const note = desk.locator('#thread .msg', { hasText: '<style>' });
    await note.waitFor();
    assert.ok((await note.textContent()).includes(NOTE));
    assert.equal(await desk.locator('#thread').isVisible(), true, 'the note\'s <style> hid nothing');

    // Nothing ran, nothing became an element, nothing was fetched.
    await new Promise(r => setTimeout(r, 500));
    for (const [who, page] of [['desk', desk], ['widget', res]]) {
      const r = await injected(page);
      assert.equal(r.pwned, null, `${who}: a payload ran`);
      assert.deepEqual(r.bad, [], `${who}: a payload became an element`);
    }
    assert.deepEqual(hits, [], 'a payload made a request');
    assert.deepEqual(dialogs, [], 'a payload opened a dialog');
    assert.deepEqual(deskErrors, []);

    await desk.getByRole('button', { name: 'End chat' }).click();
    await desk.locator('#c-state', { hasText: /ended/ }).waitFor();
  } catch (e) {
    console.error('widget:', await res.locator('switchboard-chat').evaluate(h => h.shadowRoot.textContent).catch(() => '?'),
      'desk:', await desk.locator('#main').textContent().catch(() => '?'));
    throw e;
  } finally {
    await desk.getByLabel('Change status to').selectOption('away').catch(() => {});
    await desk.getByRole('button', { name: 'Set status' }).click().catch(() => {});
    await desk.context().close();
    await resCtx.close();
  }
});
