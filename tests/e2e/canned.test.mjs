// End-to-end tests of canned responses and wrap-up in the advisor desk, against the REAL
// daemon started by ./run, with an advisor of their own (`casey`, queue council-tax, which
// ./run gives wrap-up codes and canned responses after desk.test.mjs has run), so they
// never share an advisor with desk.test.mjs. A resident uses the widget's demo page.
// Environment (set by ./run): SB_URL, SB_PROXY_PORT, SB_LOGIN, SB_PASSWORD.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { axe as axeCheck, launch, setStatus, signedInDesk, startProxy, startResident, until, wtext } from './lib.mjs';

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

// SB_SHOTS=<folder>: screenshots of the states axe checks, to look at by eye.
let shot = 0;
async function axe(page, state) {
  if (process.env.SB_SHOTS) {
    await page.screenshot({ path: path.join(process.env.SB_SHOTS, `canned-${++shot}-${state.replace(/\W+/g, '-')}.png`), fullPage: true });
  }
  await axeCheck(page, state);
}
const focused = page => page.evaluate(() => {
  const a = document.activeElement;
  return a ? `${a.id}|${a.className}|${a.tagName}` : '';
});
async function tabTo(page, re, what, max = 80) {
  for (let i = 0; i < max; i++) {
    if (re.test(await focused(page))) return;
    await page.keyboard.press('Tab');
  }
  assert.fail('Tab never reached ' + what + ' (at ' + await focused(page) + ')');
}

const residentStarts = name => startResident(browser, RES, name);

const signedIn = () => signedInDesk(browser, SB, LOGIN, PASSWORD);

test('canned response with placeholders, sent; a warned placeholder; wrap-up with a disposition', async () => {
  const { ctx, page, errors } = await signedIn();
  let res;
  try {
    await setStatus(page, 'available');
    res = await residentStarts('Ann Example');
    const offer = page.locator('.offer').first();
    await offer.waitFor();
    await offer.getByRole('button', { name: /Accept/ }).click();
    await page.getByRole('heading', { name: 'Web chat with Ann Example' }).waitFor();
    await res.page.locator('switchboard-chat .stat', { hasText: /chatting with Casey/ }).waitFor();
    await until(async () => /^SB/.test(await page.locator('#c-ref').textContent()), 'the reference');
    const ref = await page.locator('#c-ref').textContent();

    // The picker: a button next to the composer, a search, a list of buttons.
    await page.getByRole('button', { name: 'Insert a canned response' }).click();
    assert.equal(await page.getByRole('button', { name: 'Insert a canned response' }).getAttribute('aria-expanded'), 'true');
    await page.getByRole('list', { name: 'Canned responses' }).getByRole('button').first().waitFor();
    assert.equal(await focused(page), 'canned-q||INPUT', 'focus goes to the search');
    // Another queue's response is not offered.
    assert.equal(await page.locator('.canned-item', { hasText: 'Bins only' }).count(), 0);
    await axe(page, 'canned-response picker');
    await page.getByLabel('Search canned responses').fill('greet');
    await page.locator('#canned-count', { hasText: '1 canned response matches.' }).waitFor();
    await page.locator('.canned-item', { hasText: 'Greeting' }).click();
    const greeting = 'Hello Ann, my name is Casey and I work for Demo District Council. How can I help you today?';
    assert.equal(await page.getByLabel('Your reply').inputValue(), greeting);
    assert.equal(await focused(page), 'composer||TEXTAREA');
    assert.ok(await page.locator('#canned').isHidden());
    await until(async () => /Inserted “Greeting”/.test(await page.locator('#say-polite').textContent()), 'the insertion announced');
    // The advisor may edit it before sending; the resident sees the filled-in text.
    await page.getByLabel('Your reply').press('End');
    await page.getByLabel('Your reply').pressSequentially(' :)');
    await page.getByLabel('Your reply').press('Enter');
    await wtext(res.page, 'Hello Ann, my name is Casey').waitFor();
    assert.equal(await wtext(res.page, 'Hello Ann').textContent(), greeting + ' :)');

    // A response with a placeholder Switchboard does not know: inserted, left, warned.
    await page.getByRole('button', { name: 'Insert a canned response' }).click();
    await page.getByLabel('Search canned responses').fill('collection');
    await page.getByLabel('Search canned responses').press('Enter');
    const box = page.getByLabel('Your reply');
    assert.equal(await box.inputValue(), `Your reference is ${ref}. Your collection day is {collection.day}.`);
    const warn = page.locator('#composer-err');
    await warn.waitFor();
    assert.match(await warn.textContent(), /\{collection\.day\} is not a placeholder/);
    assert.equal(await box.getAttribute('aria-invalid'), 'true');
    assert.match(await box.getAttribute('aria-describedby'), /composer-err/);
    await axe(page, 'composer with a placeholder warning');
    // Sending it as it is needs a second press; the first only warns.
    await box.press('Enter');
    await until(async () => /still contains \{collection\.day\}/.test(await warn.textContent()), 'the send warning');
    assert.equal(await box.inputValue(), `Your reference is ${ref}. Your collection day is {collection.day}.`, 'not sent');
    await box.fill(`Your reference is ${ref}. Your collection day is Tuesday.`);
    assert.ok(await warn.isHidden(), 'the warning goes once the placeholder is replaced');
    await box.press('Enter');
    await wtext(res.page, 'Your collection day is Tuesday.').waitFor();

    // Wrap up: the queue has codes, so there is no plain close.
    assert.ok(await page.locator('#close-btn').isHidden());
    await page.getByRole('button', { name: 'Wrap up', exact: true }).click();
    await page.getByRole('heading', { name: 'Wrap up this conversation' }).waitFor();
    assert.equal(await focused(page), 'wrap-h||H3');
    await axe(page, 'wrap-up form');
    await page.getByRole('button', { name: 'Finish wrap-up' }).click();
    const rerr = page.locator('#w-reason-err');
    await rerr.waitFor();
    assert.match(await rerr.textContent(), /Choose a reason/);
    assert.equal(await page.getByLabel('Reason for contact').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.getByLabel('Reason for contact').getAttribute('aria-describedby'), 'w-reason-err');
    assert.match(await page.locator('#w-outcome-err').textContent(), /Choose an outcome/);
    assert.equal(await focused(page), 'w-reason||SELECT');
    await axe(page, 'wrap-up form with errors');
    await page.getByLabel('Reason for contact').selectOption({ label: 'Question about a bill' });
    await page.getByLabel('Outcome').selectOption({ label: 'Resolved during the contact' });
    await page.getByLabel('Wrap-up note (optional)').fill('Explained the <b>bill</b>.');
    await page.getByRole('button', { name: 'Finish wrap-up' }).click();
    await until(async () => /Wrapped up/.test(await page.locator('#say-polite').textContent()), 'the wrap-up announced');
    await page.getByRole('heading', { name: 'No conversation open' }).waitFor();
    await page.locator('#inbox-empty').waitFor();
    assert.equal(await page.locator('#inbox button').count(), 0, 'the conversation left the list');
    await res.page.getByText('The advisor ended the chat.').first().waitFor();
    await setStatus(page, 'away');
    assert.deepEqual(errors.filter(e => !/401/.test(e)), []);
  } catch (e) {
    console.error('desk errors:', errors, await page.locator('#say-polite').textContent(),
      await page.locator('#c-state').textContent());
    throw e;
  } finally {
    await res?.ctx.close();
    await ctx.close();
  }
});

test('keyboard only: / and a shortcut in the composer, the picker from its button, wrap-up', async () => {
  const { ctx, page, errors } = await signedIn();
  let res;
  try {
    await setStatus(page, 'available');
    res = await residentStarts('Bea Keyboard');
    await page.locator('.offer').first().waitFor();
    await page.keyboard.press('Alt+Shift+O');
    await page.keyboard.press('a');
    await page.getByRole('heading', { name: 'Web chat with Bea Keyboard' }).waitFor();
    await until(async () => /^SB/.test(await page.locator('#c-ref').textContent()), 'the reference');
    const ref = await page.locator('#c-ref').textContent();
    await tabTo(page, /^composer\|/, 'the composer');
    // "/" and a shortcut: the list narrows as it is typed; Enter inserts the best match.
    await page.keyboard.type('/ref');
    await page.locator('#canned').waitFor();
    await page.locator('.canned-item', { hasText: '/ref' }).waitFor();
    assert.equal(await focused(page), 'composer||TEXTAREA', 'focus stays in the composer');
    await page.keyboard.press('Enter');
    assert.equal(await page.getByLabel('Your reply').inputValue(),
      `Your reference is ${ref}. Please quote it if you contact us again about this.`);
    await page.keyboard.press('Enter');
    await wtext(res.page, `Your reference is ${ref}.`).waitFor();
    // The button: focus to the search, arrow down the list, Enter inserts.
    await tabTo(page, /^canned-btn\|/, 'the canned-response button');
    await page.keyboard.press('Enter');
    assert.equal(await focused(page), 'canned-q||INPUT');
    await page.keyboard.type('anything');
    await page.keyboard.press('ArrowDown');
    assert.match(await focused(page), /canned-item\|BUTTON/);
    await page.keyboard.press('Enter');
    assert.equal(await page.getByLabel('Your reply').inputValue(), 'Is there anything else I can help you with today, Bea?');
    assert.equal(await focused(page), 'composer||TEXTAREA');
    // Escape closes the picker and gives focus back to the composer.
    await page.keyboard.press('Enter');
    await wtext(res.page, 'Is there anything else').waitFor();
    await tabTo(page, /^canned-btn\|/, 'the canned-response button');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Escape');
    assert.ok(await page.locator('#canned').isHidden());
    assert.equal(await focused(page), 'composer||TEXTAREA');
    // Wrap up from the keyboard.
    await tabTo(page, /^wrap-btn\|/, 'Wrap up');
    await page.keyboard.press('Enter');
    assert.equal(await focused(page), 'wrap-h||H3');
    await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'w-reason||SELECT');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ArrowDown');
    assert.notEqual(await page.getByLabel('Reason for contact').inputValue(), '');
    assert.notEqual(await page.getByLabel('Outcome').inputValue(), '');
    await tabTo(page, /^wrap-submit\|/, 'Finish wrap-up');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'No conversation open' }).waitFor();
    assert.equal(await page.locator('#inbox button').count(), 0);
    await setStatus(page, 'away');
    assert.deepEqual(errors.filter(e => !/401/.test(e)), []);
  } catch (e) {
    console.error('desk errors:', errors, 'focus:', await focused(page), await page.locator('#c-state').textContent());
    throw e;
  } finally {
    await res?.ctx.close();
    await ctx.close();
  }
});
