// A shift's routing and resync seen in the desk, against the REAL daemon started by ./run
// (issue 13), with a queue of its own (parking: a refusal cool-down of 4 s, no wrap-up
// hold) and two advisors of its own (pat, quinn), after every other file:
//  * one advisor rejects a chat, the other rejects it too, and after the cool-down the
//    first is offered the same chat again (a refusal is not forever);
//  * a desk that reconnects gets a message numbered below the newest it holds that was
//    committed after it (on another instance, while the desk was away).
// Environment (set by ./run): SB_URL, SB_PROXY_PORT, SB_DESK_PROXY_PORT, SB_PAT, SB_QUINN,
// SB_PSQL, SB_PG_PORT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { axe, goAway, launch, setStatus, signedInDesk, startProxy, until } from './lib.mjs';

const SB = process.env.SB_URL;
const RES = `http://localhost:${process.env.SB_PROXY_PORT}`;
const COOL_MS = 4000;
let browser, proxy;

const sql = q => execFileSync(process.env.SB_PSQL, ['-X', '-q', '-tA', '-h', '127.0.0.1', '-p',
  process.env.SB_PG_PORT, '-U', 'switchboard', '-d', 'switchboard', '-c', q], { encoding: 'utf8' }).trim();

before(async () => {
  assert.ok(SB, 'SB_URL is set by tests/e2e/run');
  proxy = await startProxy(+process.env.SB_PROXY_PORT, new URL(SB));
  browser = await launch();
  // The queue was added just before this file: the daemon re-reads its queues every 30 s
  // and the topics may be cached 10 s.
  await until(async () => {
    const r = await fetch(SB + '/widget/topics.json').catch(() => null);
    const t = r && r.ok ? await r.json() : null;
    return t && JSON.stringify(t).includes('"parking"');
  }, 'parking among the widget topics', 60000);
});
after(async () => { await browser?.close(); await proxy?.close(); });

// A resident on the demo page asking about parking.
async function parkingResident(name) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(RES + '/widget/demo/');
  await page.locator('switchboard-chat .launch').click();
  await page.getByLabel('What is your question about?').selectOption('parking');
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Start chat' }).click();
  return { ctx, page };
}

const offerOn = d => d.page.locator('.offer').first();
async function reject(d) {
  const offer = offerOn(d);
  await offer.getByRole('button', { name: 'Reject' }).click();
  await offer.waitFor({ state: 'detached' });
  return Date.now();
}

test('rejected by both advisors, the chat comes back to the first after the cool-down', async () => {
  const pat = await signedInDesk(browser, SB, 'pat', process.env.SB_PAT);
  const quinn = await signedInDesk(browser, SB, 'quinn', process.env.SB_QUINN);
  let res;
  try {
    // Available first: a chat for a queue nobody serves now is offered leave-a-message.
    await setStatus(pat.page, 'available');
    await setStatus(quinn.page, 'available');
    res = await parkingResident('Rory Refused');
    // Offered to one of them first (the one idle longest).
    const first = await until(async () => (await offerOn(pat).isVisible() ? pat
      : await offerOn(quinn).isVisible() ? quinn : null), 'the first offer');
    const second = first === pat ? quinn : pat;
    await offerOn(first).getByRole('heading', { name: 'Web chat offer: Parking' }).waitFor();
    const firstRejected = await reject(first);
    // The other advisor is free and has not refused it: offered at once.
    await offerOn(second).waitFor({ timeout: 5000 });
    const secondRejected = await reject(second);
    // Both refused: nobody is offered it until a cool-down ends, then the first again.
    await offerOn(first).waitFor({ timeout: 30000 });
    const back = Date.now();
    assert.ok(back - firstRejected >= COOL_MS - 500,
      `offered again ${back - firstRejected} ms after the refusal (cool-down ${COOL_MS} ms)`);
    assert.equal(await offerOn(second).isVisible(), false, 'not offered to both');
    assert.ok(back - secondRejected < 30000);
    await axe(first.page, 'the same chat offered again after the cool-down');
    await offerOn(first).getByRole('button', { name: 'Accept' }).click();
    await offerOn(first).waitFor({ state: 'detached' });
    await first.page.getByText('Rory Refused').first().waitFor({ timeout: 15000 });
    await first.page.locator('#end-btn, #close-btn').first().click().catch(() => {});
  } finally {
    await goAway(pat.page).catch(() => {});
    await goAway(quinn.page).catch(() => {});
    await res?.ctx.close();
    await pat.ctx.close();
    await quinn.ctx.close();
  }
});

test('a desk that reconnects gets a lower-numbered message committed after the newest it held', async () => {
  // The desk through a proxy of its own, which the test cuts (the desk's network goes).
  const deskProxy = await startProxy(+process.env.SB_DESK_PROXY_PORT, new URL(SB));
  const DESK = `http://localhost:${process.env.SB_DESK_PROXY_PORT}`;
  const pat = await signedInDesk(browser, DESK, 'pat', process.env.SB_PAT);
  let res;
  const say = async text => {
    await res.page.getByLabel('Your message').fill(text);
    await res.page.getByLabel('Your message').press('Enter');
    await pat.page.getByText(text).first().waitFor({ timeout: 15000 });
  };
  try {
    await setStatus(pat.page, 'available');
    res = await parkingResident('Lola Late');
    const offer = offerOn(pat);
    await offer.waitFor({ timeout: 15000 });
    await offer.getByRole('button', { name: 'Accept' }).click();
    await say('Where can I park?');
    const conv = sql("SELECT conversation_id FROM messages WHERE body = 'Where can I park?' ORDER BY id DESC LIMIT 1");
    // A message number taken now, committed only later (a slow commit on another
    // instance): the resident's next message is numbered higher and seen live first.
    const low = sql("SELECT nextval('messages_id_seq')");
    await say('Is it free on Sundays?');
    const high = sql(`SELECT max(id) FROM messages WHERE conversation_id = ${conv}`);
    assert.ok(+low < +high, `${low} < ${high}`);
    deskProxy.cut();
    await pat.page.locator('#conn-state, .conn', { hasText: /reconnect|offline|connect/i }).first()
      .waitFor({ timeout: 10000 }).catch(() => {});
    sql(`INSERT INTO messages (id, conversation_id, direction, author_kind, body, source, external_id)
         VALUES (${low}, ${conv}, 'in', 'customer', 'Numbered lower, committed later', 'chat', '${conv}:e2e-late')`);
    deskProxy.restore();
    await pat.page.getByText('Numbered lower, committed later').first().waitFor({ timeout: 30000 });
    // Each message once, in order.
    const shown = await pat.page.locator('.msg').allTextContents();
    const order = ['Where can I park?', 'Numbered lower, committed later', 'Is it free on Sundays?']
      .map(t => shown.findIndex(x => x.includes(t)));
    assert.deepEqual([...order].sort((a, b) => a - b), order, 'in seq order: ' + JSON.stringify(shown));
    for (const t of ['Where can I park?', 'Is it free on Sundays?', 'Numbered lower, committed later']) {
      assert.equal(shown.filter(x => x.includes(t)).length, 1, t + ' shown once');
    }
  } finally {
    await goAway(pat.page).catch(() => {});
    await res?.ctx.close();
    await pat.ctx.close();
    await deskProxy.close();
  }
});
