// Every conversation can be finished (issue 13 items 11 and 12), in the desk against the
// REAL daemon started by ./run, as an advisor of its own (`wendy`, council-tax and bins):
//  * a message left for the council (bins is closed today) is offered, opened and read
//    like any conversation, marked as a left message; its resident asked for a reply by
//    email, so the composer says where the reply goes and it is sent (the SMTP server of
//    ./run); a message left asking for a text message has a composer that says the reply
//    goes by text (sent in sms.test.mjs); a note, then each is closed;
//  * a chat the resident ends stays in the advisor's list marked "Ended – wrap up", also
//    after the desk page is reloaded, until it is wrapped up.
//  * the page a transcript confirmation email links to (issue 13 item 14).
// Environment (set by ./run): SB_URL, SB_PROXY_PORT, SB_LOGIN, SB_PASSWORD.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { axe, drain, goAway, launch, leaveMessage as leave, residentSays, setStatus, signedInDesk, startProxy,
  startResident, until } from './lib.mjs';

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
beforeEach(() => drain(browser, SB, LOGIN, PASSWORD));

// A message left for bins (closed today) from the council's site: its reference.
const leaveMessage = (text, email = 'lena.left@example.org') => leave(browser, RES,
  { queue: 'bins', name: 'Lena Left', email: email || undefined, mobile: '07700 900321', text });

test('a left message is read and answered by email in the desk', async () => {
  const { ctx, page, errors } = await signedInDesk(browser, SB, LOGIN, PASSWORD);
  try {
    const ref = await leaveMessage('My bin was not collected on <b>Tuesday</b>.');
    await setStatus(page, 'available');
    const offer = page.locator('.offer').first();
    await offer.waitFor();
    await offer.getByRole('button', { name: /Accept/ }).click();
    await page.getByRole('heading', { name: 'Web chat with Lena Left' }).waitFor();
    await goAway(page);
    // Its text, sender and contact, like any conversation; never "Loading" for ever.
    await page.locator('#thread .msg.resident .txt', { hasText: 'My bin was not collected on <b>Tuesday</b>.' }).waitFor();
    assert.equal(await page.locator('#thread .msg b').count(), 0, 'the text is text');
    assert.equal(await page.locator('#c-ref').textContent(), ref);
    assert.match(await page.locator('#c-customer').textContent(), /^Lena Left/);
    assert.equal(await page.locator('#c-contact').textContent(), 'lena.left@example.org, 07700 900321');
    await until(async () => /message left for the council \(the resident asked for a reply by email\)/
      .test(await page.locator('#c-state').textContent()), 'marked as a left message');
    assert.doesNotMatch(await page.locator('#c-state').textContent(), /Loading/);
    await page.locator('#inbox .ended', { hasText: 'Left message' }).waitFor();
    // The composer says where the reply goes: the address given with the message.
    const box = page.getByLabel('Your email reply');
    await box.waitFor();
    assert.ok(await box.isEnabled());
    assert.equal(await page.locator('#composer-to').textContent(),
      `It is sent by email to lena.left@example.org, subject \u201cYour message to us \u2013 reference ${ref}\u201d.`);
    assert.match(await box.getAttribute('aria-describedby'), /composer-to composer-hint/);
    assert.ok(await page.locator('#end-btn').isHidden(), 'no chat to end');
    await axe(page, 'a left message open');
    await box.fill('We will collect it on Thursday.');
    await page.locator('#send-btn').click();
    const mine = page.locator('#thread li.advisor', { hasText: 'We will collect it on Thursday.' });
    await until(async () => /Sent by email to lena\.left@example\.org/.test(await mine.locator('.meta').textContent()),
      'the reply sent', 30000);
    // Follow-up: a note, then it is closed (bins has no wrap-up codes).
    await page.getByText('Add an internal note').click();
    await page.locator('#n-text').fill('Rang Lena back');
    await page.getByRole('button', { name: 'Add note' }).click();
    await page.locator('#thread .msg.note', { hasText: 'Rang Lena back' }).waitFor();
    await page.getByRole('button', { name: 'Release: closed' }).click();
    await page.locator('#inbox-empty').waitFor();
    assert.deepEqual(errors.filter(e => !/401/.test(e)), []);
  } finally {
    await goAway(page).catch(() => {});
    await ctx.close();
  }
});

test('a message left asking for a text message: the composer says the reply goes by text', async () => {
  const { ctx, page, errors } = await signedInDesk(browser, SB, LOGIN, PASSWORD);
  try {
    await leaveMessage('Please text me about my bin.', null);
    await setStatus(page, 'available');
    const offer = page.locator('.offer').first();
    await offer.waitFor();
    await offer.getByRole('button', { name: /Accept/ }).click();
    await page.getByRole('heading', { name: 'Web chat with Lena Left' }).waitFor();
    await goAway(page);
    await until(async () => /the resident asked for a reply by text message/
      .test(await page.locator('#c-state').textContent()), 'marked as a left message');
    // The composer says where the reply goes (the daemon's SMS sender; sms.test.mjs sends one).
    const box = page.getByLabel('Your text message reply');
    assert.ok(await box.isEnabled());
    await page.locator('#composer-to', { hasText: /^Replies go by text to 07700 900321, at most \d+ characters each\.$/ })
      .waitFor();
    assert.match(await box.getAttribute('aria-describedby'), /composer-to composer-hint composer-count/);
    await axe(page, 'a left message by text open');
    await page.getByRole('button', { name: 'Release: closed' }).click();
    await page.locator('#inbox-empty').waitFor();
    assert.deepEqual(errors.filter(e => !/401/.test(e)), []);
  } finally {
    await goAway(page).catch(() => {});
    await ctx.close();
  }
});

test('a chat the resident ends stays in the list until wrapped up, also after a reload', async () => {
  const { ctx, page, errors } = await signedInDesk(browser, SB, LOGIN, PASSWORD);
  let res;
  try {
    await setStatus(page, 'available');
    res = await startResident(browser, RES, 'Eddie Ended');
    const offer = page.locator('.offer').first();
    await offer.waitFor();
    await offer.getByRole('button', { name: /Accept/ }).click();
    await page.getByRole('heading', { name: 'Web chat with Eddie Ended' }).waitFor();
    await goAway(page);
    await residentSays(res.page, 'Thanks, that is all.');
    await page.locator('#thread .msg.resident .txt', { hasText: 'Thanks, that is all.' }).waitFor();
    // The advisor looks at something else; the resident ends the chat.
    await page.getByRole('heading', { name: 'Web chat with Eddie Ended' }).waitFor();
    await res.page.locator('switchboard-chat').getByRole('button', { name: 'End chat' }).click();
    await res.page.getByText('You ended the chat.').first().waitFor();
    const item = page.locator('#inbox button', { hasText: 'Eddie Ended' });
    await item.locator('.ended', { hasText: 'Ended – wrap up' }).waitFor();
    await page.locator('#c-state', { hasText: /ended by the resident/ }).waitFor();
    // Some time later the desk is reloaded: the conversation is still there, marked.
    await page.reload();
    await page.getByRole('heading', { name: 'Your status' }).waitFor();
    await item.locator('.ended', { hasText: 'Ended – wrap up' }).waitFor();
    await axe(page, 'an ended chat in the list after a reload');
    await item.click();
    await page.getByRole('heading', { name: 'Web chat with Eddie Ended' }).waitFor();
    await page.locator('#thread .msg.resident .txt', { hasText: 'Thanks, that is all.' }).waitFor();
    await page.locator('#c-state', { hasText: /Wrap it up/ }).waitFor();
    assert.ok(await page.locator('#composer-chat').isHidden(), 'no reply into an ended chat');
    // Wrapped up with its reason and outcome: then it leaves the list.
    await page.getByRole('button', { name: 'Wrap up', exact: true }).click();
    await page.getByRole('heading', { name: 'Wrap up this conversation' }).waitFor();
    await page.getByLabel('Reason for contact').selectOption({ label: 'Question about a bill' });
    await page.getByLabel('Outcome').selectOption({ label: 'Resolved during the contact' });
    await page.getByRole('button', { name: 'Finish wrap-up' }).click();
    await until(async () => /Wrapped up/.test(await page.locator('#say-polite').textContent()), 'the wrap-up announced');
    await page.locator('#inbox-empty').waitFor();
    // And it does not come back.
    await page.reload();
    await page.getByRole('heading', { name: 'Your status' }).waitFor();
    await page.locator('#inbox-empty').waitFor();
    await new Promise(r => setTimeout(r, 1000));
    assert.equal(await page.locator('#inbox button').count(), 0);
    assert.deepEqual(errors.filter(e => !/401/.test(e)), []);
  } finally {
    await goAway(page).catch(() => {});
    await res?.ctx.close();
    await ctx.close();
  }
});

test('the transcript confirmation page says what happened, as text, and passes axe', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', e => errors.push(e.message));
  try {
    await page.goto(SB + '/widget/transcript/?token=' + 'A'.repeat(43));
    await page.getByText('This link is not valid.').waitFor();
    await axe(page, 'transcript link not valid');
    await page.goto(SB + '/widget/transcript/');
    await page.getByText('This link is not complete.').waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
  }
});
