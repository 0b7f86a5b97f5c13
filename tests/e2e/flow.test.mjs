// The whole of one conversation through the desk, as the desk issue describes it, against
// the REAL daemon started by ./run: advisor Ann signs in, goes available and accepts a
// resident's chat from the widget, replies with a canned response (placeholders filled
// in), adds an internal note and transfers it by name to advisor Ben with a note; Ben
// accepts it, sees both notes, and wraps it up with a reason and an outcome. Supervisor
// Sue watches it all on the wallboard: the chat waiting, then each advisor's status and
// load, then Council Tax's answered count. axe-core on every page on the way.
// Users of its own (flo-ann, flo-ben, flo-sue: made by ./run), queue council-tax with the
// codes and canned responses canned.test.mjs uses; run after the other desk files.
// Environment (set by ./run): SB_URL, SB_PROXY_PORT, SB_ANN, SB_BEN, SB_SUE (passwords).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { axe, drain, launch, setStatus, signedInDesk, startProxy, startResident, until, wtext } from './lib.mjs';

const SB = process.env.SB_URL;
const RES = `http://localhost:${process.env.SB_PROXY_PORT}`;
const PW = { 'flo-ann': process.env.SB_ANN, 'flo-ben': process.env.SB_BEN, 'flo-sue': process.env.SB_SUE };
let browser, proxy;

before(async () => {
  assert.ok(SB, 'SB_URL is set by tests/e2e/run');
  proxy = await startProxy(+process.env.SB_PROXY_PORT, new URL(SB));
  browser = await launch();
  // Whatever an earlier file left waiting for these advisors is taken and closed first.
  await drain(browser, SB, 'flo-ann', PW['flo-ann']);
  await drain(browser, SB, 'flo-ben', PW['flo-ben']);
});
after(async () => { await browser?.close(); await proxy?.close(); });

const signedIn = login => signedInDesk(browser, SB, login, PW[login]);

test('an advisor\'s conversation end to end: accept, canned reply, note, transfer, wrap-up; the wallboard follows', async () => {
  const sue = await signedIn('flo-sue');
  const ann = await signedIn('flo-ann');
  const ben = await signedIn('flo-ben');
  let res;
  try {
    // The supervisor's wallboard, from the desk's link.
    await sue.page.getByRole('link', { name: 'Wallboard' }).click();
    await sue.page.getByRole('heading', { name: 'Wallboard', level: 1 }).waitFor();
    const tax = sue.page.locator('#queues tr', { hasText: 'Council Tax' });
    await tax.waitFor();
    const num = async (loc, col) => Number(await loc.locator('td').nth(col).textContent());
    const answered0 = await num(tax, 3);
    await axe(sue.page, 'wallboard');

    // Ann is available; Ben is away. A resident starts a chat: offered to Ann.
    await setStatus(ann.page, 'available');
    const annRow = sue.page.locator('#advisors tr', { hasText: 'Ann Flow' });
    await annRow.locator('.state', { hasText: 'Available' }).waitFor({ timeout: 15000 });
    res = await startResident(browser, RES, 'Robin Resident', 'robin@example.org');
    const offer = ann.page.locator('.offer').first();
    await offer.waitFor();
    await axe(ann.page, 'desk with an offer');
    await offer.focus();
    await ann.page.keyboard.press('a');
    await ann.page.getByRole('heading', { name: 'Web chat with Robin Resident' }).waitFor();
    await res.page.locator('switchboard-chat .stat', { hasText: 'You are chatting with Ann Flow' }).waitFor();
    // Her capacity per channel, with the chat she holds.
    await ann.page.locator('#capacity-list li', { hasText: /^Web chat: 1 of \d+/ }).waitFor();
    await annRow.locator('td', { hasText: /Web chat: 1 of \d+/ }).waitFor({ timeout: 15000 });

    // A canned response, placeholders filled in, sent; the resident reads it.
    await ann.page.getByRole('button', { name: 'Insert a canned response' }).click();
    await ann.page.getByLabel('Search canned responses').fill('greet');
    await ann.page.locator('.canned-item', { hasText: 'Greeting' }).click();
    const greeting = 'Hello Robin, my name is Ann and I work for Demo District Council. How can I help you today?';
    assert.equal(await ann.page.getByLabel('Your reply').inputValue(), greeting);
    await ann.page.getByLabel('Your reply').press('Enter');
    await wtext(res.page, greeting).waitFor();
    await res.page.getByLabel('Your message').fill('I am moving house next month.');
    await res.page.getByLabel('Your message').press('Enter');
    await ann.page.locator('#thread .msg.resident .txt', { hasText: 'moving house' }).waitFor();

    // An internal note, then a transfer to Ben by name, with a note for him.
    await ann.page.getByText('Add an internal note').click();
    await ann.page.locator('#n-text').fill('Moving out of the district on the 1st.');
    await ann.page.getByRole('button', { name: 'Add note' }).click();
    await ann.page.locator('#thread .msg', { hasText: 'Moving out of the district' }).waitFor();
    await ann.page.getByText('Transfer to a queue or an advisor').click();
    const to = ann.page.getByLabel("Or an advisor of this conversation's queue");
    await until(async () => (await to.locator('option').allTextContents()).includes('Ben Flow'), 'Ben in the list');
    assert.ok(!(await to.locator('option').allTextContents()).includes('Ann Flow'), 'not oneself');
    await axe(ann.page, 'transfer form');
    await to.selectOption({ label: 'Ben Flow' });
    await ann.page.getByLabel('Note for the next advisor (optional)').fill('Final bill needed, see my note.');
    await ann.page.getByRole('button', { name: 'Transfer', exact: true }).click();
    await until(async () => /Transferred to Ben Flow/.test(await ann.page.locator('#say-polite').textContent()), 'the transfer announced');
    await ann.page.locator('#c-state', { hasText: /left your list|transferred/i }).waitFor();
    await annRow.locator('td', { hasText: /Web chat: 0 of \d+/ }).waitFor({ timeout: 15000 });

    // Ben goes available: it is offered to him (pinned), with the whole thread.
    await setStatus(ben.page, 'available');
    const bo = ben.page.locator('.offer').first();
    await bo.waitFor();
    await bo.getByRole('button', { name: /Accept/ }).click();
    await ben.page.getByRole('heading', { name: 'Web chat with Robin Resident' }).waitFor();
    await ben.page.locator('#thread .msg', { hasText: 'Moving out of the district' }).waitFor();
    await ben.page.locator('#thread .msg', { hasText: 'Final bill needed' }).waitFor();
    await ben.page.locator('#thread .msg.advisor .txt', { hasText: greeting }).waitFor();
    await res.page.locator('switchboard-chat .stat', { hasText: 'You are chatting with Ben Flow' }).waitFor();
    const benRow = sue.page.locator('#advisors tr', { hasText: 'Ben Flow' });
    await benRow.locator('td', { hasText: /Web chat: 1 of \d+/ }).waitFor({ timeout: 15000 });
    await axe(ben.page, 'conversation after a transfer');

    // Ben wraps it up with the queue's codes.
    await ben.page.getByRole('button', { name: 'Wrap up', exact: true }).click();
    await ben.page.getByRole('heading', { name: 'Wrap up this conversation' }).waitFor();
    await ben.page.getByLabel('Reason for contact').selectOption({ label: 'Moving home' });
    await ben.page.getByLabel('Outcome').selectOption({ label: 'Follow-up needed by the team' });
    await ben.page.getByLabel('Wrap-up note (optional)').fill('Final bill to be sent.');
    await axe(ben.page, 'wrap-up form');
    await ben.page.getByRole('button', { name: 'Finish wrap-up' }).click();
    await ben.page.getByRole('heading', { name: 'No conversation open' }).waitFor();
    await res.page.getByText('The advisor ended the chat.').first().waitFor();

    // The wallboard: Ben free again, Council Tax answered one more.
    await benRow.locator('td', { hasText: /Web chat: 0 of \d+/ }).waitFor({ timeout: 15000 });
    await until(async () => (await num(tax, 3)) > answered0, 'answered today counted', 20000);
    await axe(sue.page, 'wallboard after the day');
    // (the 401 is the page asking for a session before signing in)
    for (const [who, p] of [['sue', sue], ['ann', ann], ['ben', ben]]) assert.deepEqual(p.errors.filter(e => !/401/.test(e)), [], who);
  } finally {
    for (const p of [ann, ben]) await setStatus(p.page, 'away').catch(() => {});
    await res?.ctx.close();
    for (const p of [sue, ann, ben]) await p.ctx.close();
  }
});
