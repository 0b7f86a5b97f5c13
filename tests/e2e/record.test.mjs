// End-to-end tests of the desk's customer record panel (advisor-desk/record.js) against the
// REAL daemon started by ./run, as the advisor `rita` (never signed in by the other files),
// with a resident on the widget's demo page in a second browser context. record-seed.sql
// gave customer "Hana Historic" (hana@example.com, +447700900456) 1,200 past contacts.
// Environment (set by ./run): SB_URL, SB_PROXY_PORT, SB_LOGIN, SB_PASSWORD, SB_PSQL, SB_PG_PORT.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { axe, cleanUp, drain, launch, openDesk, residentSays, sql, startProxy, startResident, until } from './lib.mjs';

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

// One SQL answer from the test's PostgreSQL (the audit log is checked there).
const focused = page => page.evaluate(() => document.activeElement ? document.activeElement.id : '');

// Signs in, goes available, and accepts the chat the resident starts.
async function acceptChat(page, name, email, mobile) {
  await page.getByLabel('Login').fill(LOGIN);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#status-now', { hasText: /Offline|Away/ }).waitFor();
  await page.getByLabel('Change status to').selectOption('available');
  await page.getByRole('button', { name: 'Set status' }).click();
  await page.locator('#status-now', { hasText: 'Available' }).waitFor();
  const res = await startResident(browser, RES, name, email, mobile);
  await page.getByRole('button', { name: 'Accept' }).click();
  await page.getByRole('heading', { name: `Web chat with ${name}` }).waitFor();
  return res;
}
const panel = page => page.getByRole('region', { name: 'Customer record' });

test('record panel: the chat\'s customer with flags, 1,200 past contacts paged, a past thread, search by phone', async () => {
  const { ctx, page, errors } = await openDesk(browser, SB);
  let res;
  try {
    res = await acceptChat(page, 'Hana Historic', 'HANA@example.com');
    const p = panel(page);
    // The matched customer, with identities and flags.
    await p.getByRole('heading', { name: 'Hana Historic', level: 3 }).waitFor();
    await p.locator('#r-which', { hasText: 'This conversation\'s customer' }).waitFor();
    assert.match(await page.locator('#r-vulnerable').textContent(), /^Yes/);
    assert.equal(await page.locator('#r-adjust').textContent(), 'Large print letters');
    assert.match(await page.locator('#r-lang').textContent(), /Welsh \(cy\)/);
    assert.equal(await page.locator('#r-pchannel').textContent(), 'Email');
    assert.equal(await page.locator('#r-count').textContent(), '1201');
    const ids = await page.locator('#r-identities li').allTextContents();
    assert.ok(ids.includes('Email: hana@example.com (verified)'), ids.join('|'));
    assert.ok(ids.includes('Phone: +447700900456 (not verified)'), ids.join('|'));

    // The timeline: newest first, this conversation at the top, one page of 20 rendered.
    const items = page.locator('#r-timeline > li');
    await until(async () => (await items.count()) === 20, 'the first page of the timeline');
    assert.match(await items.first().textContent(), /this conversation/);
    assert.match(await items.nth(1).textContent(), /Closed|closed/);
    await page.locator('#r-tl-state', { hasText: 'Showing the newest 20 contacts' }).waitFor();
    // Older pages, on demand; focus goes to the first of the new ones.
    await page.getByRole('button', { name: 'Show older contacts' }).click();
    await until(async () => (await items.count()) === 40, 'the second page');
    const first21 = await items.nth(20).locator('button').getAttribute('aria-controls');
    assert.equal(await focused(page), '', 'focus is on a button without an id');
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-controls')), first21);
    await until(async () => /20 older contacts shown/.test(await page.locator('#say-polite').textContent()),
      'the older contacts announced');
    await page.getByRole('button', { name: 'Show older contacts' }).click();
    await until(async () => (await items.count()) === 60, 'the third page');
    // Newest first across pages: "Past contact n" grows older as n grows.
    const refs = await page.locator('#r-timeline .tl-toggle .t').allTextContents();
    assert.equal(new Set(refs).size, 60, 'no contact twice');
    // Expand one from the third page: its messages, notes marked as such.
    const old = items.nth(45);
    const toggle = old.locator('button.tl-toggle');
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    await old.locator('.msg.resident .txt', { hasText: /^Past question \d+$/ }).waitFor();
    await old.locator('.msg.note .who', { hasText: 'Internal note' }).waitFor();
    await old.getByText('Council Tax').or(old.getByText('Bins and recycling')).first().waitFor();
    assert.equal(await old.locator('.msg').count(), 3);
    // How it was wrapped up: retired codes still named, the note as text.
    assert.match(await toggle.textContent(), /, Answered in full$/);
    const fact = k => old.locator('.facts div', { has: page.locator('dt', { hasText: new RegExp(`^${k}$`) }) }).locator('dd');
    assert.equal(await fact('Reason').textContent(), 'Past enquiry');
    assert.equal(await fact('Outcome').textContent(), 'Answered in full');
    assert.match(await fact('Wrap-up note').textContent(), /^Told to call back <b>Monday<\/b> \d+$/);
    assert.equal(await old.locator('.facts b').count(), 0);
    assert.match(await fact('Wrapped up').textContent(), /\S/);
    await axe(page, 'record panel with a paged timeline and an open past contact');
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');

    // Search by the phone number in another format than stored: results announced, focus on them.
    await page.getByLabel('Name, email, phone number or reference').fill('07700 900 456');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.locator('#r-results .result', { hasText: 'Hana Historic' }).waitFor();
    assert.equal(await focused(page), 'r-results-h');
    await until(async () => /1 customer found/.test(await page.locator('#say-polite').textContent()), 'results announced');
    await axe(page, 'search results');
    // And in the international format, and by the email in capitals.
    for (const q of ['+44 7700 900456', 'HANA@EXAMPLE.COM']) {
      await page.getByLabel('Name, email, phone number or reference').fill(q);
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await page.locator('#r-results-count', { hasText: `found for “${q}”` }).waitFor();
      assert.equal(await page.locator('#r-results .result', { hasText: 'Hana Historic' }).count(), 1, q);
    }
    // Nothing found: said, focus stays in the field.
    await page.getByLabel('Name, email, phone number or reference').fill('Nobody Byname');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.locator('#r-results-count', { hasText: 'No customers found' }).waitFor();
    assert.equal(await focused(page), 'r-q');
    assert.deepEqual(errors.filter(e => !/401/.test(e)), []);
  } catch (e) {
    console.error('desk errors:', errors, await page.locator('#r-error').textContent().catch(() => ''),
      await page.locator('#r-tl-state').textContent().catch(() => ''));
    throw e;
  } finally {
    await cleanUp(page);
    await res?.ctx.close();
    await ctx.close();
  }
});

test('record panel: create a customer (errors, 409), link the conversation to it, edit, link two records; audited', async () => {
  const { ctx, page, errors } = await openDesk(browser, SB);
  let res;
  try {
    res = await acceptChat(page, 'Nia Newcomer');
    const chatCustomer = +(await until(() => page.evaluate(() => {
      const t = document.getElementById('r-which').textContent.match(/customer (\d+)/);
      return t && t[1];
    }), 'the chat\'s new customer shown'));
    await page.locator('#r-match', { hasText: 'gave no email or mobile' }).waitFor();

    // Create: an empty name, then a bad email, each tied to its field.
    await page.getByText('Create a customer').click();
    await page.getByRole('button', { name: 'Create customer' }).click();
    const name = page.locator('#r-new-name');
    assert.equal(await focused(page), 'r-new-name');
    assert.equal(await name.getAttribute('aria-invalid'), 'true');
    assert.equal(await name.getAttribute('aria-describedby'), 'r-new-name-err');
    await name.fill('Nia Example');
    await page.locator('#r-new-email').fill('nia@');
    await page.getByRole('button', { name: 'Create customer' }).click();
    await page.locator('#r-new-email-err', { hasText: 'Enter an email address' }).waitFor();
    assert.equal(await focused(page), 'r-new-email');
    await axe(page, 'create form with errors');
    // Someone else's email: 409, explained, nothing made.
    const before = sql('SELECT count(*) FROM customers');
    await page.locator('#r-new-email').fill('hana@example.com');
    await page.getByRole('button', { name: 'Create customer' }).click();
    await page.locator('#r-new-error', { hasText: 'already on another customer\'s record' }).waitFor();
    assert.equal(await page.locator('#r-new-email').getAttribute('aria-invalid'), 'true');
    await page.getByRole('button', { name: /^Open customer \d+$/ }).waitFor();
    assert.equal(sql('SELECT count(*) FROM customers'), before, 'nothing created on a 409');
    await axe(page, 'create form with a 409');
    // Right this time; the new record opens with focus on its name.
    await page.locator('#r-new-email').fill('nia.example@example.com');
    await page.locator('#r-new-phone').fill('07700 900789');
    await page.getByRole('button', { name: 'Create customer' }).click();
    await panel(page).getByRole('heading', { name: 'Nia Example', level: 3 }).waitFor();
    assert.equal(await focused(page), 'r-name');
    const created = +(await page.locator('#r-which').textContent()).match(/Customer (\d+)/)[1];
    assert.notEqual(created, chatCustomer);
    assert.match(await page.locator('#r-which').textContent(), /not the open conversation's customer/);
    assert.ok((await page.locator('#r-identities li').allTextContents()).includes('Phone: +447700900789 (not verified)'));

    // Link the conversation to it, after a confirmation (cancel first).
    await page.getByRole('button', { name: 'This conversation is this customer\'s' }).click();
    assert.equal(await focused(page), 'r-confirm-text');
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('button', { name: 'This conversation is this customer\'s' }).click();
    await page.getByRole('button', { name: 'Yes, link the conversation' }).click();
    await page.locator('#r-which', { hasText: 'This conversation\'s customer' }).waitFor();
    await page.locator('#c-customer', { hasText: 'Nia Example' }).waitFor();
    assert.equal(await focused(page), 'r-name');
    const conv = sql(`SELECT id FROM conversations WHERE customer_id = ${created}`);
    assert.ok(conv, 'the conversation is the new customer\'s');
    // Its thread, from the timeline (the resident has said something by now).
    await residentSays(res.page, 'Hello from Nia');
    await page.locator('#thread .msg.resident .txt', { hasText: 'Hello from Nia' }).waitFor();
    const mine = page.locator('#r-timeline > li', { hasText: 'this conversation' });
    await mine.locator('button.tl-toggle').click();
    await mine.locator('.msg.resident .txt', { hasText: 'Hello from Nia' }).waitFor();

    // Edit details: a bad language code is refused at the field, then saved.
    await page.getByText('Edit details').click();
    await page.locator('#r-ed-name').fill('Nia Example-Jones');
    await page.getByLabel('Vulnerable: staff should take extra care').check();
    await page.locator('#r-ed-adjust').fill('Needs a BSL interpreter');
    await page.locator('#r-ed-lang').fill('British Sign');
    await page.getByRole('button', { name: 'Save details' }).click();
    await page.locator('#r-ed-lang-err', { hasText: 'language code' }).waitFor();
    assert.equal(await focused(page), 'r-ed-lang');
    await page.locator('#r-ed-lang').fill('bfi');
    await page.getByLabel('Preferred channel').selectOption('sms');
    await page.getByRole('button', { name: 'Save details' }).click();
    await panel(page).getByRole('heading', { name: 'Nia Example-Jones', level: 3 }).waitFor();
    assert.equal(await focused(page), 'r-name');
    assert.equal(await page.locator('#r-adjust').textContent(), 'Needs a BSL interpreter');
    assert.equal(await page.locator('#r-pchannel').textContent(), 'Text message');
    assert.match(await page.locator('#r-vulnerable').textContent(), /^Yes/);
    await page.getByRole('heading', { name: 'Web chat with Nia Example-Jones' }).waitFor();

    // Link two records for review: the chat's first record may be the same person.
    await page.getByLabel('Name, email, phone number or reference').fill('nia new');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.locator('#r-results .result', { hasText: 'Nia Newcomer' }).click();
    await panel(page).getByRole('heading', { name: 'Nia Newcomer', level: 3 }).waitFor();
    assert.equal(await focused(page), 'r-name');
    await page.getByText('These may be the same person').click();
    await page.getByText(/nothing is merged/).waitFor();
    await page.getByRole('button', { name: 'Link for review (not a merge)' }).click();
    await page.locator('#r-same-note-err', { hasText: 'Say why' }).waitFor();
    assert.equal(await focused(page), 'r-same-note');
    await page.getByLabel('Why they may be the same person').fill('Same first name, chat the same <b>day</b>');
    await page.getByRole('button', { name: 'Link for review (not a merge)' }).click();
    await page.locator('#r-links li', { hasText: `Nia Example-Jones (customer ${created})` }).waitFor();
    assert.match(await page.locator('#r-links li').first().textContent(), /Same first name, chat the same <b>day<\/b>/);
    assert.equal(await page.locator('#r-links b').count(), 0, 'the note is text');
    await axe(page, 'record linked for review');
    // Both records are unchanged: no merge.
    assert.equal(sql(`SELECT count(*) FROM customers WHERE id IN (${chatCustomer}, ${created})`), '2');
    // Back to the conversation's customer.
    await page.getByRole('button', { name: 'Back to this conversation\'s customer' }).click();
    await panel(page).getByRole('heading', { name: 'Nia Example-Jones', level: 3 }).waitFor();
    await page.locator('#r-links li', { hasText: `Nia Newcomer (customer ${chatCustomer})` }).waitFor();

    // Every view and change is in the audit log, as rita.
    const audit = a => +sql(`SELECT count(*) FROM audit_log WHERE actor = '${LOGIN}' AND action = '${a}'`);
    for (const a of ['customer.view', 'customer.search', 'customer.create', 'conversation.customer', 'customer.edit',
      'customer.link', 'conversation.view']) {
      assert.ok(audit(a) > 0, `audit_log has ${a}`);
    }
    const edit = JSON.parse(sql(`SELECT detail FROM audit_log WHERE actor = '${LOGIN}' AND action = 'customer.edit'
      AND object_id = '${created}' ORDER BY id DESC LIMIT 1`));
    assert.equal(edit.before.name, 'Nia Example');
    assert.equal(edit.changes.name, 'Nia Example-Jones');
    assert.equal(edit.changes.preferred_language, 'bfi');
    assert.equal(sql(`SELECT detail->>'to' FROM audit_log WHERE action = 'conversation.customer'
      AND object_id = '${conv}' ORDER BY id DESC LIMIT 1`), String(created));
    assert.ok(+sql(`SELECT count(*) FROM audit_log WHERE actor = '${LOGIN}' AND action = 'customer.view'
      AND object_id = '${created}'`) > 0);

    // The session goes (signed out elsewhere): the next call takes the desk to sign-in.
    await page.evaluate(() => fetch('/api/session', { method: 'DELETE', headers: { 'X-Requested-With': 'test' } }));
    await page.getByLabel('Name, email, phone number or reference').fill('anyone').catch(() => {});
    await page.getByRole('button', { name: 'Search', exact: true }).click().catch(() => {});
    await page.getByRole('heading', { name: 'Sign in to the advisor desk' }).waitFor();
    assert.deepEqual(errors.filter(e => !/401|409|WebSocket/.test(e)), []);
  } catch (e) {
    console.error('desk errors:', errors, await page.locator('#r-error').textContent().catch(() => ''),
      await page.locator('#say-polite').textContent().catch(() => ''));
    throw e;
  } finally {
    await cleanUp(page);
    await res?.ctx.close();
    await ctx.close();
  }
});

test('record panel: an ambiguous match; what the resident typed searched with one press; linked to one of them', async () => {
  const { ctx, page, errors } = await openDesk(browser, SB);
  let res;
  try {
    res = await acceptChat(page, 'Hana Maybe', 'hana@example.com', '07700 900111');
    await page.locator('#r-match', { hasText: 'on two different records' }).waitFor();
    assert.match(await page.locator('#r-which').textContent(), /This conversation's customer/);
    await axe(page, 'an ambiguous match');
    await page.getByRole('button', { name: 'Search for +447700900111' }).click();
    await page.locator('#r-results .result', { hasText: 'Hana Other' }).waitFor();
    assert.equal(await page.locator('#r-q').inputValue(), '+447700900111');
    assert.equal(await focused(page), 'r-results-h');
    await page.getByRole('button', { name: 'Search for hana@example.com' }).click();
    await page.locator('#r-results .result', { hasText: 'Hana Historic' }).waitFor();
    // It was the other one.
    await page.getByRole('button', { name: 'Search for +447700900111' }).click();
    await page.locator('#r-results .result', { hasText: 'Hana Other' }).click();
    await panel(page).getByRole('heading', { name: 'Hana Other', level: 3 }).waitFor();
    await page.getByRole('button', { name: 'This conversation is this customer\'s' }).click();
    await page.getByRole('button', { name: 'Yes, link the conversation' }).click();
    await page.locator('#r-which', { hasText: 'This conversation\'s customer' }).waitFor();
    await page.locator('#c-customer', { hasText: 'Hana Other' }).waitFor();
    await page.getByRole('heading', { name: 'Web chat with Hana Other' }).waitFor();
    await page.locator('#r-timeline > li', { hasText: 'this conversation' }).waitFor();
    assert.equal(await page.locator('#r-match-box').isHidden(), true, 'no match note once linked by hand');
    assert.deepEqual(errors.filter(e => !/401/.test(e)), []);
  } finally {
    await cleanUp(page);
    await res?.ctx.close();
    await ctx.close();
  }
});

test('record panel: keyboard only at 320 px; the API failing; signing out clears it', async () => {
  const { ctx, page } = await openDesk(browser, SB);
  try {
    await page.setViewportSize({ width: 320, height: 640 });
    await page.getByLabel('Login').fill(LOGIN);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByLabel('Password').press('Enter');
    await page.locator('#status-now', { hasText: /Offline|Away/ }).waitFor();
    // No conversation: the panel says so, and search works from the keyboard.
    await panel(page).getByText('Open a conversation to see its customer').waitFor();
    await page.getByLabel('Name, email, phone number or reference').focus();
    await page.keyboard.type('SB');
    await page.keyboard.press('Enter');
    await page.locator('#r-results-count', { hasText: /No customers found|found for/ }).waitFor();
    await page.getByLabel('Name, email, phone number or reference').fill('hana');
    await page.keyboard.press('Enter');
    await page.locator('#r-results .result', { hasText: 'Hana Historic' }).waitFor();
    assert.equal(await focused(page), 'r-results-h');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await panel(page).getByRole('heading', { name: 'Hana Historic', level: 3 }).waitFor();
    assert.equal(await focused(page), 'r-name');
    await until(async () => (await page.locator('#r-timeline > li').count()) === 20, 'the timeline');
    const wide = await page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
    assert.equal(wide, false, 'the record panel fits 320 px');
    await axe(page, 'a record opened from search, 320 px');

    // The API failing (its answers replaced in the browser): said in words, next to the search.
    for (const [status, words] of [[503, 'could not reach its database'], [403, 'not allowed'],
      [500, 'could not reach its database']]) {
      await page.route('**/api/customers?q=*', r => r.fulfill({ status, contentType: 'application/json',
        body: JSON.stringify({ error: 'replaced by the test' }) }));
      await page.getByLabel('Name, email, phone number or reference').fill('hana');
      await page.keyboard.press('Enter');
      await page.locator('#r-q-err', { hasText: words }).waitFor();
      assert.equal(await focused(page), 'r-q');
      await page.unroute('**/api/customers?q=*');
    }
    // A record that is not there.
    await page.route('**/api/customers/*', r => r.fulfill({ status: 404, contentType: 'application/json',
      body: JSON.stringify({ error: 'no such customer' }) }));
    await page.getByLabel('Name, email, phone number or reference').fill('hana');
    await page.keyboard.press('Enter');
    await page.locator('#r-results .result', { hasText: 'Hana Historic' }).click();
    await page.locator('#r-error', { hasText: /There is no customer \d+/ }).waitFor();
    await page.unroute('**/api/customers/*');

    // Signing out leaves nothing of a customer in the forms.
    await page.getByText('Create a customer').click();
    await page.locator('#r-new-name').fill('Someone Private');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You have signed out.').waitFor();
    assert.equal(await page.locator('#r-new-name').inputValue(), '');
    assert.equal(await page.locator('#r-q').inputValue(), '');
    assert.equal(await page.locator('#r-results li').count(), 0);
  } finally {
    await cleanUp(page);
    await ctx.close();
  }
});
