// End-to-end test of texts (SMS) in the advisor desk (advisor-desk/) against the REAL
// daemon started by ./run, as the advisor `tess`, the only one in the queue texts, where
// both of the daemon's SMS senders put new texts: "council" on GOV.UK Notify (160
// characters) and "twilio". Their APIs are the providers' contract server
// (tests/integration/provider_server.py, SB_PROVIDERS: its control API), which checks
// each request the daemon sends exactly and keeps what it took.
//  * a resident's text, a Notify inbound-SMS callback posted from here with the bearer
//    token, is offered and accepted; the composer says where the reply goes and counts
//    characters (said at thresholds only; over the limit nothing is sent); the reply is
//    sent, taken by the contract server, and Notify's "delivered" receipt shows it
//    delivered; a second reply the contract server refuses (400) shows "Not sent";
//  * a message left in the web chat with a mobile and no email is answered by text, and
//    the provider's receipt "permanent-failure" shows it not delivered;
//  * a resident who texted STOP (signed Twilio webhooks): the composer is disabled with
//    the reason, and their record says since when.
// axe clean at each step, screenshots in SB_SHOTS.
// Environment (set by ./run): SB_URL, SB_PROXY_PORT, SB_LOGIN, SB_PASSWORD, SB_PROVIDERS,
// SB_NOTIFY_TOKEN, SB_TWILIO_SID, SB_TWILIO_TOKEN, SB_PSQL, SB_PG_PORT, SB_SHOTS.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { axeShots, drain, goAway, launch, leaveMessage, setStatus, signedInDesk, sql, startProxy, until }
  from './lib.mjs';

const SB = process.env.SB_URL;
const RES = `http://localhost:${process.env.SB_PROXY_PORT}`;
const LOGIN = process.env.SB_LOGIN;
const PASSWORD = process.env.SB_PASSWORD;
const PROV = process.env.SB_PROVIDERS;
const NOTIFY_NUMBER = '07700900001';   // the "council" sender's (tests/e2e/run)
const TWILIO_NUMBER = '+447700900002'; // the "twilio" sender's
let browser, proxy;

before(async () => {
  assert.ok(SB && PROV, 'SB_URL and SB_PROVIDERS are set by tests/e2e/run');
  proxy = await startProxy(+process.env.SB_PROXY_PORT, new URL(SB));
  browser = await launch();
});
after(async () => { await browser?.close(); await proxy?.close(); });
beforeEach(() => drain(browser, SB, LOGIN, PASSWORD));

const axe = axeShots('sms');

// ---- the providers, as seen from outside the daemon ----
// GOV.UK Notify's callbacks: JSON with the service's bearer token.
async function notifyHook(path, body) {
  const r = await fetch(SB + path, { method: 'POST', body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${process.env.SB_NOTIFY_TOKEN}` } });
  assert.equal(r.status, 200, `${path}: ${await r.text()}`);
}
// A text from `from` (E.164) to the council's Notify number: its id.
async function notifyText(from, text) {
  const id = crypto.randomUUID();
  await notifyHook('/hooks/notify/inbound-sms', { id, source_number: from.slice(1),
    destination_number: NOTIFY_NUMBER, message: text,
    date_received: new Date().toISOString().replace('Z', '000Z') });
  return id;
}
// Twilio's X-Twilio-Signature (shared/reference/providers.md): Base64(HMAC-SHA1(auth
// token, the public URL + each parameter's name and value, sorted by name)).
function twilioSignature(url, params) {
  const s = url + [...params].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1))
    .map(([n, v]) => n + v).join('');
  return crypto.createHmac('sha1', process.env.SB_TWILIO_TOKEN).update(s).digest('base64');
}
// A text from `from` to the council's Twilio number, signed over the public URL: its sid.
async function twilioText(from, text) {
  const sid = 'SM' + crypto.randomBytes(16).toString('hex');
  const params = [['MessageSid', sid], ['AccountSid', process.env.SB_TWILIO_SID], ['From', from],
    ['To', TWILIO_NUMBER], ['Body', text], ['NumMedia', '0'], ['NumSegments', '1']];
  const r = await fetch(SB + '/hooks/twilio/sms', { method: 'POST', body: new URLSearchParams(params).toString(),
    headers: { 'Content-Type': 'application/x-www-form-urlencoded',
      'X-Twilio-Signature': twilioSignature(SB + '/hooks/twilio/sms', params) } });
  assert.equal(r.status, 200, await r.text());
  return sid;
}
// The contract server's control API (plain HTTP on its port).
async function control(method, path, body) {
  const r = await fetch(PROV + path, { method, body: body && JSON.stringify(body),
    headers: body ? { 'Content-Type': 'application/json' } : {} });
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return r.json();
}
// What the contract server took to a number (E.164), oldest first.
const takenBy = async to => (await control('GET', '/_control/messages')).filter(m => m.to === to);
// Every provider request the daemon made was well formed (the server's own checks).
async function allWellFormed() {
  const bad = (await control('GET', '/_control/requests')).filter(r => r.provider && r.verdict !== 'ok');
  assert.deepEqual(bad.map(r => `${r.method} ${r.path}: ${r.verdict}`), []);
}

// ---- the desk ----
const said = page => page.locator('#say-polite').textContent();
async function acceptOffer(page, heading) {
  await page.getByRole('heading', { name: heading }).waitFor({ timeout: 30000 });
  await page.getByRole('button', { name: 'Accept' }).click();
}
// The advisor's message with this text, and its state line.
const mine = (page, text) => page.locator('#thread li.advisor', { hasText: text });
const stateOf = async (page, text) => mine(page, text).locator('.meta').textContent();
// A test on tess's desk: body(page) leaves a conversation open, which is then released as
// closed; the page must have logged no error.
async function onDesk(body) {
  const { ctx, page, errors } = await signedInDesk(browser, SB, LOGIN, PASSWORD);
  try {
    await body(page);
    await page.getByRole('button', { name: 'Release: closed' }).click();
    await page.locator('#c-state', { hasText: /left your list/ }).waitFor();
    assert.deepEqual(errors.filter(e => !/401/.test(e)), []);
  } finally {
    await goAway(page).catch(() => {});
    await ctx.close();
  }
}
// The outbox row of the advisor's reply `text` in conversation conv.
const outboxOf = (conv, text) => sql(`SELECT o.id FROM outbox o JOIN messages m ON m.id = o.message_id ` +
  `WHERE m.conversation_id = ${conv} AND m.body = '${text.replace(/'/g, "''")}'`);

test('a text: offered, answered with the count, sent, delivered; a refused reply not sent; axe clean',
  () => onDesk(async page => {
    const number = '+447700900123';
    await setStatus(page, 'available');
    const mid = await notifyText(number, 'My green bin was not collected on Tuesday.');
    await acceptOffer(page, 'Text message offer: Texts');
    const conv = await until(() => sql(`SELECT conversation_id FROM messages WHERE external_id = '${mid}'`),
      'the text stored');
    const item = page.locator(`#inbox button[data-inbox="${conv}"]`);
    await item.waitFor();
    await until(async () => /Text message, Texts/.test(await item.textContent()), 'channel and queue in words');
    await setStatus(page, 'away');
    await item.click();
    // Named by the number the resident texted from (no name on record).
    await page.getByRole('heading', { name: 'Text message with 07700 900123' }).waitFor();
    await page.locator('#thread li.resident', { hasText: 'not collected on Tuesday' }).waitFor();
    assert.equal(await page.locator('#c-channel').textContent(), 'Text message, Texts');
    // Where the reply goes, before anything is typed, with the sender's limit.
    const to = page.locator('#composer-to');
    await to.waitFor();
    assert.equal(await to.textContent(), 'Replies go by text to 07700 900123, at most 160 characters each.');
    assert.equal(await page.locator('#composer-label').textContent(), 'Your text message reply');
    const count = page.locator('#composer-count');
    assert.equal(await count.textContent(), '0 of 160 characters');
    assert.match(await page.locator('#composer').getAttribute('aria-describedby'),
      /^composer-to composer-hint composer-count$/);
    await axe(page, 'text conversation open');

    // Typed from the keyboard: the count follows, and is not said at each key.
    await page.locator('#composer').focus();
    const short = 'Sorry about that. ';
    await page.keyboard.type(short);
    assert.equal(await count.textContent(), `${short.trim().length} of 160 characters`);
    assert.doesNotMatch(await said(page), /characters/);
    // Within 20 of the limit: said once, politely.
    await page.keyboard.type('x'.repeat(140 - short.length + 1));
    assert.equal(await count.textContent(), '141 of 160 characters: 19 left');
    // (said when it crossed: at 140, 20 left)
    await until(async () => (await said(page)) === '20 characters left in this text.', 'the 20-left threshold said');
    // Over it: said, shown in words (not by colour alone), and not sent.
    await page.keyboard.type('y'.repeat(25));
    assert.equal(await count.textContent(), '166 of 160 characters: 6 too many. Shorten it to send it.');
    assert.match(await count.getAttribute('class'), /\bover\b/);
    await until(async () => /^Over the limit for a text: 161 of 160 characters/.test(await said(page)),
      'the limit said');
    await page.keyboard.press('Enter');
    await page.locator('#composer-err', { hasText: 'Your text is 166 characters: a text can be at most 160.' })
      .waitFor();
    assert.equal(await page.locator('#composer').getAttribute('aria-invalid'), 'true');
    assert.equal(sql(`SELECT count(*) FROM messages WHERE conversation_id = ${conv} AND direction = 'out'`), '0');
    await axe(page, 'text over the limit');
    // Shortened (the whole text replaced): within the limit again, said so.
    const reply = 'Sorry about that. Your green bin will be collected tomorrow, Thursday.';
    await page.keyboard.press('Control+A');
    await page.keyboard.type(reply);
    assert.equal(await count.textContent(), `${reply.length} of 160 characters`);
    await until(async () => /^The text is within the limit again/.test(await said(page)), 'back within the limit said');
    await page.keyboard.press('Enter');
    await mine(page, reply).waitFor();
    await until(async () => (await stateOf(page, reply)).includes('Sent by text to 07700 900123, not yet delivered'),
      'the reply shown sent', 30000);
    assert.equal(await count.textContent(), '0 of 160 characters');

    // The contract server took it once, as Notify's API asks, with our reference.
    const oid = outboxOf(conv, reply);
    const [m] = await until(async () => { const t = await takenBy(number); return t.length ? t : null; },
      'the text at the provider');
    assert.equal((await takenBy(number)).length, 1);
    assert.equal(m.provider, 'notify');
    assert.equal(m.body, reply);
    assert.equal(m.reference, `sb-${oid}`);
    await allWellFormed();
    // Notify's delivery receipt: "Delivered" on the reply.
    await notifyHook('/hooks/notify/status', { id: m.id, reference: m.reference, to: '07700900123',
      status: 'delivered', created_at: new Date().toISOString(), completed_at: new Date().toISOString(),
      sent_at: new Date().toISOString(), notification_type: 'sms' });
    await until(async () => /Delivered to 07700 900123$/.test(await stateOf(page, reply)), 'the reply delivered');
    await axe(page, 'text reply delivered');

    // A second reply that Notify refuses for good (400): "Not sent", with why, said.
    await control('POST', '/_control/behave', { to: number, respond: [{ status: 400 }] });
    const second = 'Could you send us a photo of the bin?';
    await page.locator('#composer').focus();
    await page.keyboard.type(second);
    await page.keyboard.press('Enter');
    await until(async () => / · Not sent to 07700 900123: GOV\.UK Notify answered 400: .+/
      .test(await stateOf(page, second)), 'the refused reply shown not sent', 30000);
    assert.match(await mine(page, second).getAttribute('class'), /\bfailed\b/);
    await until(async () => /^A text to 07700 900123 was not sent: GOV\.UK Notify answered 400/.test(await said(page)),
      'the failure announced');
    assert.equal((await takenBy(number)).length, 1);
    // The first is still delivered after a reload (from the history).
    await page.reload();
    await page.getByRole('heading', { name: 'Your status' }).waitFor();
    await page.locator(`#inbox button[data-inbox="${conv}"]`).click();
    await until(async () => /Delivered to 07700 900123$/.test(await stateOf(page, reply)), 'delivered from history');
    assert.match(await stateOf(page, second), /Not sent to 07700 900123: GOV\.UK Notify answered 400/);
    await axe(page, 'text reply refused');
  }));

test('a message left in the web chat with a mobile is answered by text; not delivered shown', () => onDesk(async page => {
  const number = '+447700900124';
  const ref = await leaveMessage(browser, RES, { queue: 'texts', name: 'Lee Left', mobile: '07700 900124',
    text: 'Please text me when the tip reopens.' });
  await setStatus(page, 'available');
  await acceptOffer(page, 'Left message: Texts');
  await page.getByRole('heading', { name: 'Web chat with Lee Left' }).waitFor();
  await goAway(page);
  await page.locator('#c-state', { hasText: 'the resident asked for a reply by text message' }).waitFor();
  assert.equal(await page.locator('#c-ref').textContent(), ref);
  await page.locator('#composer-to', { hasText: 'Replies go by text to 07700 900124, at most 160 characters each.' })
    .waitFor();
  assert.ok(await page.getByLabel('Your text message reply').isEnabled());
  await axe(page, 'left message by text open');
  const reply = 'The tip reopens on Saturday at 8am.';
  await page.locator('#composer').focus();
  await page.keyboard.type(reply);
  assert.equal(await page.locator('#composer-count').textContent(), `${reply.length} of 160 characters`);
  await page.keyboard.press('Enter');
  await until(async () => (await stateOf(page, reply)).includes('Sent by text to 07700 900124'), 'sent', 30000);
  const [m] = await until(async () => { const t = await takenBy(number); return t.length ? t : null; },
    'the text at the provider');
  assert.equal(m.body, reply);
  assert.equal(m.provider, 'notify');
  await allWellFormed();
  // The phone network could not deliver it: said, and shown with Notify's reason.
  await notifyHook('/hooks/notify/status', { id: m.id, reference: m.reference, to: '07700900124',
    status: 'permanent-failure', notification_type: 'sms' });
  await until(async () => /Not delivered to 07700 900124: permanent-failure$/.test(await stateOf(page, reply)),
    'not delivered shown');
  assert.match(await mine(page, reply).getAttribute('class'), /\bfailed\b/);
  await until(async () => /^A text to Lee Left was not delivered: permanent-failure/.test(await said(page)),
    'not delivered announced');
  await axe(page, 'left message text not delivered');
}));

test('a resident who texted STOP: the composer is disabled with the reason, the record says so', () => onDesk(async page => {
  const number = '+447700900125';
  const sid = await twilioText(number, 'Is my parking permit renewed?');
  await twilioText(number, 'STOP');
  await until(() => sql(`SELECT sms_opted_out_at IS NOT NULL FROM customer_identities WHERE kind = 'phone' ` +
    `AND value = '${number}'`) === 't', 'the opt-out recorded');
  await setStatus(page, 'available');
  await acceptOffer(page, 'Text message offer: Texts');
  const conv = sql(`SELECT conversation_id FROM messages WHERE external_id = '${sid}'`);
  await page.locator(`#inbox button[data-inbox="${conv}"]`).click();
  await goAway(page);
  await page.getByRole('heading', { name: 'Text message with 07700 900125' }).waitFor();
  await page.locator('#thread li.resident', { hasText: 'STOP' }).waitFor();
  const day = sql(`SELECT to_char(sms_opted_out_at AT TIME ZONE 'Europe/London', 'FMDD Mon YYYY') ` +
    `FROM customer_identities WHERE kind = 'phone' AND value = '${number}'`);
  await page.locator('#composer-to', { hasText: 'A reply cannot be sent by text: the resident opted out of texts ' +
    `(they sent STOP on ${day}).` }).waitFor();
  assert.ok(await page.getByLabel('Your text message reply').isDisabled());
  assert.ok(await page.locator('#send-btn').isDisabled());
  assert.ok(await page.locator('#composer-count').isHidden());
  assert.match(await page.locator('#composer-hint').textContent(), /^Add an internal note below/);
  assert.match(await page.locator('#composer').getAttribute('aria-describedby'), /composer-to/);
  // The record panel: the number opted out of texts, since when.
  await page.locator('#r-identities li', { hasText: '+447700900125' })
    .locator('.opted-out', { hasText: /opted out of texts since .+ \(they sent STOP\)/ }).waitFor();
  await axe(page, 'opted out of texts');
  // A note still works; nothing goes out.
  await page.getByText('Add an internal note', { exact: true }).click();
  await page.locator('#n-text').fill('Rang the resident about the permit instead');
  await page.getByRole('button', { name: 'Add note' }).click();
  await page.locator('#thread .msg.note', { hasText: 'Rang the resident' }).waitFor();
  assert.equal(sql(`SELECT count(*) FROM messages WHERE conversation_id = ${conv} AND direction = 'out'`), '0');
}));
