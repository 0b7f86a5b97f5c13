// End-to-end test of calls in the advisor desk (advisor-desk/voice.js) against the REAL
// daemon started by ./run, as the advisor `vera` (phone extension 2041), the only one in
// the queues of the daemon's voice section: phones (answered calls) and callbacks (missed
// calls). The phone system is this file: generic CTI events signed with our webhook scheme
// (X-Switchboard-Timestamp, X-Switchboard-Signature over timestamp + "." + body).
//  * a known caller (vulnerable, with reasonable adjustments and an open conversation)
//    rings her extension: the pop shows them; one of their open conversations opens the
//    record; she answers on her phone: the call's conversation opens (seized) with the call's
//    facts and notes only; the hangup gives its duration and recording, on the customer's
//    timeline too; wrapped up;
//  * a missed call: its callback offered by number and deadline, accepted, "no answer" with
//    another attempt a few seconds ahead, wrapped up, offered again (overdue), "reached";
//  * withheld callers: two ringing at once (newest first), the pop says withheld; each goes
//    at hangup. The pop's latency from posting the webhook to the panel in the DOM is
//    printed (measured, not asserted).
// axe clean at each step, screenshots in SB_SHOTS.
// Environment (set by ./run): SB_URL, SB_LOGIN, SB_PASSWORD, SB_CTI_SECRET, SB_PSQL,
// SB_PG_PORT, SB_SHOTS.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { axeShots, drain, goAway, launch, setStatus, signedInDesk, sql, until } from './lib.mjs';

const SB = process.env.SB_URL;
const LOGIN = process.env.SB_LOGIN;
const PASSWORD = process.env.SB_PASSWORD;
const EXT = '2041';
let browser;

before(async () => {
  assert.ok(SB && process.env.SB_CTI_SECRET, 'SB_URL and SB_CTI_SECRET are set by tests/e2e/run');
  browser = await launch();
});
after(async () => { await browser?.close(); });
beforeEach(() => drain(browser, SB, LOGIN, PASSWORD));

const axe = axeShots('voice');

// ---- the phone system ----
// One CTI event, signed (docs/integrations.md "Signing"); at: seconds since the epoch.
async function cti(ev) {
  const body = JSON.stringify(ev);
  const ts = String(Math.floor(Date.now() / 1000));
  const mac = crypto.createHmac('sha256', process.env.SB_CTI_SECRET).update(`${ts}.${body}`).digest('hex');
  const r = await fetch(SB + '/hooks/cti', { method: 'POST', body, headers: { 'Content-Type': 'application/json',
    'X-Switchboard-Timestamp': ts, 'X-Switchboard-Signature': `sha256=${mac}` } });
  assert.equal(r.status, 200, `${ev.event}: ${await r.text()}`);
}
// A call: call.event('ringing', secondsAfterStart, {extra}).
function call(from) {
  const id = 'e2e-' + crypto.randomUUID();
  const t0 = Date.now() / 1000;
  return { id, event: (event, after, extra = {}) => cti({ event, call_id: id, direction: 'inbound', from,
    to: '01632 960000', at: new Date((t0 + after) * 1000).toISOString(), ...extra }) };
}
const convOf = c => until(() => sql(`SELECT conversation_id FROM voice_calls WHERE call_key = 'cti:${c.id}'`),
  'the call recorded');

// ---- the desk ----
const pop = (page, text) => page.locator('#pops-list .pop', { hasText: text });
// A test on vera's desk, available: body(page); the page must have logged no error.
async function onDesk(body) {
  const { ctx, page, errors } = await signedInDesk(browser, SB, LOGIN, PASSWORD);
  try {
    await setStatus(page, 'available');
    await body(page);
    assert.deepEqual(errors.filter(e => !/401/.test(e)), []);
  } catch (e) {
    // What the page showed when it failed, to look at.
    if (process.env.SB_SHOTS) {
      await page.screenshot({ path: `${process.env.SB_SHOTS}/voice-failed-${Date.now()}.png`, fullPage: true })
        .catch(() => {});
    }
    throw e;
  } finally {
    await goAway(page).catch(() => {});
    await ctx.close();
  }
}
// Wraps up the open conversation (queues without codes: a note only).
async function wrapUp(page, note) {
  const form = page.locator('#wrap-form');
  if (await form.isHidden()) await page.getByRole('button', { name: 'Wrap up', exact: true }).click();
  await form.waitFor();
  await page.getByLabel('Wrap-up note (optional)').fill(note);
  await page.getByRole('button', { name: 'Finish wrap-up' }).click();
  await page.locator('#say-polite', { hasText: 'Wrapped up.' }).waitFor();
}

test('a known caller: the pop, answered (seized), notes only, the hangup on the timeline, wrapped up; axe clean',
  () => onDesk(async page => {
    const cust = sql(`WITH c AS (INSERT INTO customers (display_name, vulnerable, reasonable_adjustments)
      VALUES ('Dee Resident', true, 'Speak slowly: she uses a hearing aid') RETURNING id),
      i AS (INSERT INTO customer_identities (customer_id, kind, value) SELECT id, 'phone', '+447700900423' FROM c),
      o AS (INSERT INTO conversations (customer_id, channel, queue_id, status, subject)
        SELECT id, 'sms', 10, 'awaiting_customer', 'Garden waste subscription' FROM c)
      SELECT id FROM c`).split('\n')[0];
    const ref = sql(`SELECT reference FROM conversations WHERE customer_id = ${cust}`);
    const c = call('07700 900423');
    await c.event('newCall', 0);
    await c.event('ringing', 1, { agent_extension: EXT, queue: 'Council Tax' });
    const p = pop(page, 'Call from 07700 900423');
    await p.waitFor();
    await page.getByRole('region', { name: 'Call ringing' }).waitFor();
    await until(async () => (await page.locator('#say-alert').textContent()) ===
      'Call from 07700 900423 \u2014 Dee Resident. Vulnerable: take extra care.', 'the call announced');
    assert.equal(await p.locator('.pop-match').textContent(), 'Known caller: Dee Resident');
    await p.locator('.pop-flag', { hasText: 'Vulnerable: take extra care' }).waitFor();
    assert.equal(await p.locator('.pop-adjust').textContent(), 'Reasonable adjustments: Speak slowly: she uses a hearing aid');
    await p.getByText('Phone queue: Council Tax. Ringing extension 2041.').waitFor();
    const open = p.getByRole('button', { name: `${ref}: Text message, \u201cGarden waste subscription\u201d` });
    await axe(page, 'known caller ringing');
    // One of their open conversations: their record, that contact opened in its timeline.
    await open.click();
    await page.locator('#r-name', { hasText: 'Dee Resident' }).waitFor();
    const tl = page.locator(`#r-timeline li[data-conversation]`, { hasText: ref }).locator('.tl-toggle');
    await until(async () => (await tl.getAttribute('aria-expanded')) === 'true', 'the contact opened');
    assert.equal(await page.evaluate(() => document.activeElement.className), 'tl-toggle');
    assert.equal(await page.locator('#r-vulnerable').textContent(), 'Yes: take extra care');

    // Answered on her phone: the call's conversation opens, focused; the pop goes.
    const conv = await convOf(c);
    await c.event('answer', 3, { agent_extension: EXT });
    await page.getByRole('heading', { name: 'Phone with Dee Resident' }).waitFor();
    await until(async () => (await page.evaluate(() => document.activeElement.id)) === 'conv-h', 'the call focused');
    await until(async () => /^You answered the call from 07700 900423\./.test(await page.locator('#say-alert').textContent()),
      'the answer announced');
    await page.locator('#pops').waitFor({ state: 'hidden' });
    assert.equal(await page.locator(`#inbox button[data-inbox="${conv}"][aria-current="true"]`).count(), 1);
    assert.equal(await page.locator('#c-channel').textContent(), 'Phone');
    assert.ok(await page.locator('#r-match-box').isHidden());
    const fact = name => page.locator('#c-call-facts div', { has: page.locator('dt', { hasText: name }) }).locator('dd');
    await until(async () => (await fact('State').textContent()) === 'On the call now', 'the call live');
    assert.equal(await fact('Number').textContent(), '07700 900423');
    assert.equal(await fact('Answered by').textContent(), 'Vera Voice');
    assert.equal(await fact('Call').textContent(), 'Incoming call');
    await page.locator('#thread li', { hasText: 'Answered by Vera Voice' }).waitFor();
    // No reply composer: a note for the record, the form open.
    assert.ok(await page.locator('#composer-chat').isHidden());
    assert.match(await page.locator('#composer-other').textContent(), /^This is a phone call: add a note for the record/);
    assert.ok(await page.locator('#end-btn').isHidden());
    assert.equal(await page.locator('#note-box').getAttribute('open'), '');
    await axe(page, 'call answered');
    await page.locator('#n-text').fill('Asked about her garden waste renewal');
    await page.getByRole('button', { name: 'Add note' }).click();
    await page.locator('#thread .msg.note', { hasText: 'garden waste renewal' }).waitFor();

    // Hung up a minute later, recorded: its duration and the recording link.
    await c.event('hangup', 63, { cause: 'normalClearing', recording_url: 'https://pbx.example/rec/1.mp3' });
    await until(async () => (await fact('Duration').textContent().catch(() => '')) === '1 minute 0 seconds',
      'the duration shown');
    assert.equal(await fact('State').textContent(), 'Ended');
    const rec = page.getByRole('link', { name: 'Listen to the recording' });
    assert.equal(await rec.getAttribute('href'), 'https://pbx.example/rec/1.mp3');
    assert.equal(await rec.getAttribute('target'), '_blank');
    assert.match(await rec.getAttribute('rel'), /\bnoopener\b/);
    await page.locator('#thread li', { hasText: 'Call ended after 1 min 0 s' }).waitFor();
    await axe(page, 'call ended');
    // On the customer's timeline with its duration (after a reload: ended, kept for wrap-up).
    await page.reload();
    await page.getByRole('heading', { name: 'Your status' }).waitFor();
    await page.locator(`#inbox button[data-inbox="${conv}"]`).click();
    await page.getByRole('heading', { name: 'Phone with Dee Resident' }).waitFor();
    const mine = page.locator(`#r-timeline li[data-conversation="${conv}"]`);
    await mine.waitFor();
    assert.match(await mine.locator('.tl-toggle').textContent(), /Phone .*\(this conversation\)/);
    await mine.locator('.tl-toggle').click();
    await mine.locator('.tl-thread li', { hasText: 'Call ended after 1 min 0 s' }).waitFor();
    await axe(page, 'call on the timeline');
    await wrapUp(page, 'Renewal explained');
    assert.equal(sql(`SELECT status FROM conversations WHERE id = ${conv}`), 'closed');
  }));

test('a missed call: the callback offered, no answer with a retry, offered again overdue, reached; axe clean',
  () => onDesk(async page => {
    const c = call('07700 900424');
    await c.event('ringing', 0, { agent_extension: EXT });
    await pop(page, 'Call from 07700 900424').locator('.pop-match', { hasText: 'New caller' }).waitFor();
    await c.event('hangup', 20, { cause: 'noAnswer' });
    await page.locator('#pops').waitFor({ state: 'hidden' });
    const conv = await convOf(c);
    const due = () => sql(`SELECT to_char(due_at AT TIME ZONE 'Europe/London', 'HH24:MI "on" FMDD Mon') ` +
      `FROM conversations WHERE id = ${conv}`);
    // Offered by number, with its deadline.
    const offer = page.locator(`.offer[data-conversation="${conv}"]`);
    await offer.getByRole('heading', { name: 'Call back 07700 900424 (missed call)' }).waitFor({ timeout: 30000 });
    await offer.locator('.offer-tag', { hasText: `Due by ${due()}` }).waitFor();
    await axe(page, 'callback offered');
    await offer.getByRole('button', { name: 'Accept' }).click();
    const box = page.getByRole('region', { name: /call back by/ });
    await box.getByRole('heading', { name: `Missed call \u2014 call back by ${due()}` }).waitFor();
    const tel = box.getByRole('link', { name: '07700 900424' });
    assert.equal(await tel.getAttribute('href'), 'tel:+447700900424');
    assert.ok(await page.locator('#cb-retry-field').isHidden());
    await axe(page, 'callback open');
    // Nothing chosen: said on the group.
    await page.getByRole('button', { name: 'Record the outcome' }).click();
    await page.locator('#cb-outcome-err', { hasText: 'Choose how the callback went' }).waitFor();
    // No answer: "try again at" shows, two hours ahead; set a few seconds ahead.
    await page.getByLabel('No answer').check();
    const retry = page.getByLabel('Try again at (optional)');
    await retry.waitFor();
    const shown = await retry.inputValue();
    const ahead = new Date(shown).getTime() - Date.now();
    assert.ok(ahead > 118 * 60000 && ahead <= 120 * 60000, `try again at ${shown}`);
    await axe(page, 'callback no answer chosen');
    const soon = new Date(Date.now() + 4000);
    const z = n => String(n).padStart(2, '0');
    await retry.fill(`${soon.getFullYear()}-${z(soon.getMonth() + 1)}-${z(soon.getDate())}T` +
      `${z(soon.getHours())}:${z(soon.getMinutes())}:${z(soon.getSeconds())}`);
    await page.getByLabel('Note (optional)', { exact: true }).fill('Rang twice');
    await page.getByRole('button', { name: 'Record the outcome' }).click();
    // Recorded: on the timeline, and the wrap-up form appears.
    await page.locator('#thread li', { hasText: 'Callback attempt 1 by Vera Voice: no answer. Rang twice. Next attempt from' })
      .waitFor();
    await page.locator('#wrap-form').waitFor();
    await until(async () => (await page.evaluate(() => document.activeElement.id)) === 'wrap-h', 'the wrap-up focused');
    await page.getByRole('heading', { name: /^Next callback attempt from \d\d:\d\d on / }).waitFor();
    assert.ok(await page.locator('#cb-form').isHidden());
    await axe(page, 'callback recorded');
    // The next attempt, past its deadline before it comes back: overdue.
    sql(`UPDATE voice_callbacks SET due_at = now() - interval '1 minute' WHERE conversation_id = ${conv} AND attempt = 2`);
    await wrapUp(page, 'No answer yet');
    const again = page.locator(`.offer[data-conversation="${conv}"]`);
    await again.getByRole('heading', { name: 'Call back 07700 900424 (missed call)' }).waitFor({ timeout: 30000 });
    await again.locator('.offer-tag', { hasText: /^Overdue: was due by / }).waitFor();
    await again.getByRole('button', { name: 'Accept' }).click();
    await page.getByRole('heading', { name: /Overdue: missed call \u2014 call back by / }).waitFor();
    assert.match(await page.locator('#c-callback-attempt').textContent(), /^Attempt 2: its deadline, .+, has passed\.$/);
    await axe(page, 'callback overdue');
    // Reached: no "try again".
    await page.getByLabel('Reached the resident').check();
    assert.ok(await page.locator('#cb-retry-field').isHidden());
    await page.getByRole('button', { name: 'Record the outcome' }).click();
    await page.locator('#thread li', { hasText: 'Callback attempt 2 by Vera Voice: reached the resident' }).waitFor();
    await wrapUp(page, 'Spoke to them');
    assert.equal(sql(`SELECT string_agg(attempt || ':' || status || ':' || coalesce(outcome, '-'), ',' ORDER BY attempt) ` +
      `FROM voice_callbacks WHERE conversation_id = ${conv}`), '1:done:no_answer,2:done:reached');
  }));

test('withheld callers: two ringing at once, newest first, said withheld; each goes at hangup; the pop latency',
  () => onDesk(async page => {
    // When a pop for the conversation is first in the DOM (the page's clock, Unix ms).
    await page.evaluate(() => {
      window.popAt = {};
      new MutationObserver(() => {
        for (const li of document.querySelectorAll('#pops-list .pop')) {
          window.popAt[li.dataset.conversation] ??= Date.now();
        }
      }).observe(document.getElementById('pops-list'), { childList: true });
    });
    const samples = [];
    for (let i = 0; i < 5; i++) {
      const c = call('anonymous');
      const t0 = Date.now();
      await c.event('ringing', 0, { agent_extension: EXT });
      const conv = await convOf(c);
      const at = await until(() => page.evaluate(id => window.popAt[id], conv), 'the pop in the DOM');
      samples.push(at - t0);
      await c.event('hangup', 2, { cause: 'cancel' });
      await until(() => page.evaluate(id => !document.querySelector(`#pops-list .pop[data-conversation="${id}"]`), conv),
        'the pop gone');
    }
    console.log(`# pop latency (webhook posted -> panel in the DOM), ms: ${samples.join(', ')}`);

    // A hunt group: two calls ring at once, the newest first.
    const a = call('anonymous'), b = call('withheld');
    await a.event('ringing', 0, { agent_extension: EXT });
    await page.locator('#pops-list .pop').first().waitFor();
    await b.event('ringing', 1, { agent_extension: EXT });
    await page.getByRole('heading', { name: '2 calls ringing' }).waitFor();
    const [ca, cb] = [await convOf(a), await convOf(b)];
    assert.deepEqual(await page.locator('#pops-list .pop').evaluateAll(l => l.map(x => x.dataset.conversation)), [cb, ca]);
    for (const t of await page.locator('#pops-list .pop h3').allTextContents()) assert.equal(t, 'Call from a withheld number');
    assert.deepEqual(await page.locator('#pops-list .pop-match').allTextContents(),
      ['Withheld number: the caller cannot be looked up', 'Withheld number: the caller cannot be looked up']);
    // Nothing to open for a withheld number.
    assert.equal(await page.getByRole('button', { name: /Open the full record/ }).count(), 0);
    await axe(page, 'two withheld calls ringing');
    await b.event('hangup', 5, { cause: 'cancel' });
    await page.getByRole('heading', { name: 'Call ringing', exact: true }).waitFor();
    await a.event('hangup', 6, { cause: 'cancel' });
    await page.locator('#pops').waitFor({ state: 'hidden' });
    // Withheld: no callback, closed.
    assert.equal(sql(`SELECT string_agg(status, ',') FROM conversations WHERE id IN (${ca}, ${cb})`), 'closed,closed');
  }));
