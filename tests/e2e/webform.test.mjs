// End-to-end tests of a web-form conversation in the advisor desk (advisor-desk/) against
// the REAL daemon started by ./run, as the advisor `fern`, the only one in the queue
// street-scene, where the form street-form (configured by ./run) goes: a submission signed
// as docs/integrations.md says is posted to POST /hooks/forms/street-form, offered to fern,
// and accepted. The desk shows the form's answers as a table, says why it cannot reply
// instead of offering a send button, and still takes internal notes and ends the
// conversation (conversation.*, docs/desk-protocol.md). Keyboard only, axe clean.
// Environment (set by ./run): SB_URL, SB_LOGIN, SB_PASSWORD, SB_FORM_SECRET, SB_PSQL,
// SB_PG_PORT, SB_SHOTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { axeShots, launch, setStatus, signedInDesk, sql, until } from './lib.mjs';

const SB = process.env.SB_URL;
const LOGIN = process.env.SB_LOGIN;
const PASSWORD = process.env.SB_PASSWORD;
let browser;

before(async () => {
  assert.ok(SB, 'SB_URL is set by tests/e2e/run');
  browser = await launch();
});
after(async () => { await browser?.close(); });

// SB_SHOTS=<folder>: screenshots of the states axe checks, to look at by eye.
const axe = axeShots('webform');
const focused = page => page.evaluate(() => {
  const a = document.activeElement;
  return a ? `${a.id}|${a.dataset && a.dataset.inbox ? 'inbox' : ''}|${a.tagName}` : '';
});
async function tabTo(page, re, what, max = 80) {
  for (let i = 0; i < max; i++) {
    if (re.test(await focused(page))) return;
    await page.keyboard.press('Tab');
  }
  assert.fail('Tab never reached ' + what + ' (at ' + await focused(page) + ')');
}

// Posts one submission to the form, signed (X-Switchboard-Timestamp, -Signature).
async function submit(body) {
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = crypto.createHmac('sha256', process.env.SB_FORM_SECRET).update(`${ts}.${body}`).digest('hex');
  return fetch(SB + '/hooks/forms/street-form', { method: 'POST', body, headers: {
    'Content-Type': 'application/json', 'X-Switchboard-Timestamp': ts, 'X-Switchboard-Signature': `sha256=${sig}` } });
}

test('web form: submitted, offered and accepted; the answers as a table, no reply box but why, a note and the end by keyboard, axe clean', async () => {
  const { ctx, page, errors } = await signedInDesk(browser, SB, LOGIN, PASSWORD);
  try {
    await setStatus(page, 'available');
    // Routing knows the channel: the advisor's web capacity is shown in words.
    await page.locator('#capacity-list li', { hasText: 'Web form: 0 of 5' }).waitFor();
    const r = await submit(JSON.stringify({ submission_id: 'e2e-' + crypto.randomUUID(), form: 'Missed bin',
      name: 'Wendell Webb', email: 'wendell@example.org', fields: [
        { label: 'Street', value: '1 High Street' }, { label: 'Which bin was missed', value: 'Green (garden waste)' },
        { label: 'Collection day', value: 'Monday' }, { label: 'Anything else', value: '' }] }));
    const answer = await r.text();
    assert.equal(r.status, 201, answer);
    const conv = String(JSON.parse(answer).conversation);
    // Offered by channel in words, and accepted.
    await page.getByRole('heading', { name: 'Web form offer: Street scene' }).waitFor();
    await page.getByRole('button', { name: 'Accept' }).click();
    const item = page.locator(`#inbox button[data-inbox="${conv}"]`);
    await item.waitFor();
    await until(async () => /Web form, Street scene/.test(await item.textContent()), 'the channel and queue in words');
    await until(async () => /Wendell Webb/.test(await item.textContent()), 'the resident named in the list');
    await setStatus(page, 'away');
    // Opened from the keyboard.
    await tabTo(page, /\|inbox\|BUTTON$/, 'the conversation in the list');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Web form with Wendell Webb' }).waitFor();
    assert.equal(await page.locator('#c-channel').textContent(), 'Web form, Street scene');
    assert.equal(await page.locator('#c-subject').textContent(), 'Report a missed bin');
    assert.equal(await page.locator('#c-customer').textContent(), 'Wendell Webb (new customer)');
    assert.equal(await page.locator('#c-contact').textContent(), 'wendell@example.org');
    // The record panel says how the contact was matched in the channel's terms, not a chat's.
    await page.locator('#r-match', { hasText: 'The email or mobile given with the contact was on no record when the ' +
      'contact came in.' }).waitFor();
    assert.equal(await page.locator('#c-page-row').isHidden(), true, 'a chat\'s page is not shown');
    assert.equal(await page.locator('#c-presence-row').isHidden(), true, 'a chat\'s window is not shown');

    // The form's answers: a table with its caption, column headers and a row header per question.
    const table = page.getByRole('table', { name: 'Answers on the form: Report a missed bin' });
    await table.waitFor();
    assert.deepEqual(await table.locator('thead th').allTextContents(), ['Question', 'Answer']);
    assert.deepEqual(await table.locator('thead th').evaluateAll(t => t.map(x => x.scope)), ['col', 'col']);
    const rows = table.locator('tbody tr');
    assert.equal(await rows.count(), 4);
    assert.deepEqual(await table.locator('tbody th').allTextContents(),
      ['Street', 'Which bin was missed', 'Collection day', 'Anything else']);
    assert.deepEqual(await table.locator('tbody th').evaluateAll(t => t.map(x => x.scope)),
      ['row', 'row', 'row', 'row']);
    assert.deepEqual(await table.locator('tbody td').allTextContents(),
      ['1 High Street', 'Green (garden waste)', 'Monday', '(left empty)']);
    // Above the thread, which has the resident's message.
    assert.ok(await page.evaluate(() => document.getElementById('c-fields-box').compareDocumentPosition(
      document.getElementById('thread')) & Node.DOCUMENT_POSITION_FOLLOWING));
    // The form's message says where its answers are, rather than repeating them.
    const sent = page.locator('#thread li', { hasText: 'Missed bin' });
    await sent.waitFor();
    assert.equal(await sent.locator('.txt').textContent(), 'Missed bin (the answers are in the table above)');

    // No reply box and no send button: why not, in words, instead.
    const why = page.locator('#composer-other');
    await why.waitFor();
    assert.equal(await why.textContent(),
      'A reply cannot be sent on this web form conversation: this channel cannot send replies yet. ' +
      'Add an internal note below, and contact the resident another way if they need an answer.');
    assert.equal(await page.locator('#composer-chat').isHidden(), true);
    assert.equal(await page.getByRole('button', { name: 'Send', exact: true }).count(), 0);
    await axe(page, 'web form conversation');

    // What it read is marked read by the core (conversation.read).
    await until(() => sql(`SELECT advisor_read > 0 FROM conversation_reads WHERE conversation_id = ${conv}`) === 't',
      'the read mark stored');

    // An internal note, by keyboard.
    await tabTo(page, /^\|\|SUMMARY$/, 'a details summary');
    let guard = 0;
    while (!/Add an internal note/.test(await page.evaluate(() => document.activeElement.textContent)) && guard++ < 5) {
      await page.keyboard.press('Tab');
      await tabTo(page, /^\|\|SUMMARY$/, 'the next summary');
    }
    await page.keyboard.press('Enter');
    await tabTo(page, /^n-text\|/, 'the note box');
    await page.keyboard.type('Crew told: back on Wednesday');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.locator('#thread li', { hasText: 'Crew told: back on Wednesday' }).waitFor();
    assert.equal(sql(`SELECT count(*) FROM messages WHERE conversation_id = ${conv} AND source = 'desk'` +
      " AND body = 'Crew told: back on Wednesday'"), '1');
    // Nothing of it went out as a reply.
    assert.equal(sql(`SELECT count(*) FROM messages WHERE conversation_id = ${conv} AND direction = 'out'`), '0');
    await axe(page, 'web form with a note');

    // A reply sent anyway (an old desk, a hand-made message) is refused and not stored.
    const refused = await page.evaluate(async c => new Promise(resolve => {
      const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws', 'switchboard.v1');
      ws.onmessage = e => {
        const m = JSON.parse(e.data);
        if (m.type === 'desk.ready') {
          ws.send(JSON.stringify({ type: 'conversation.reply', conversation: c, id: 'r',
            client_id: '6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b', text: 'We will come' }));
        }
        if (m.id === 'r') { ws.close(); resolve(m); }
      };
    }), conv);
    assert.equal(refused.type, 'error');
    assert.equal(refused.code, 'cannot_reply');
    assert.equal(refused.message, 'this channel cannot send replies yet');
    assert.equal(sql(`SELECT count(*) FROM messages WHERE conversation_id = ${conv} AND body = 'We will come'`), '0');

    // End conversation: it stays in the list for its wrap-up.
    await tabTo(page, /^end-btn\|/, 'End conversation');
    assert.equal(await page.locator('#end-btn').textContent(), 'End conversation');
    await page.keyboard.press('Enter');
    await page.locator('#c-state', { hasText: 'This conversation has ended.' }).waitFor();
    await until(async () => /Conversation ended/.test(await page.locator('#say-polite').textContent()),
      'the end announced');
    assert.equal(sql(`SELECT status FROM conversations WHERE id = ${conv}`), 'wrap_up');
    // In the list for its wrap-up, named in the channel's words; no reply reason any more.
    await until(async () => /Web form, Street scene, ended/.test(await item.textContent()), 'ended in the list');
    assert.match(await item.textContent(), /Ended – wrap up/);
    assert.equal(await why.isHidden(), true);
    await axe(page, 'web form ended');
    // The signed-out probe (GET /api/session) answers 401 before sign-in.
    assert.deepEqual(errors.filter(e => !/401/.test(e)), []);
  } finally {
    await ctx.close();
  }
});
