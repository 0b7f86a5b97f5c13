// End-to-end tests of the wallboard (advisor-desk/wallboard.html) and the staff accounts page
// (advisor-desk/admin.html) against the REAL daemon started by ./run, with users of their own
// made there (never the advisor `sam` of desk.test.mjs): an admin, a supervisor and an
// advisor serving Council Tax, who stays busy or away (a chat waits only in a queue someone
// available or busy serves; busy or away, they are offered nothing). ./run runs this file on its own, after desk.test.mjs.
// Environment (set by ./run): SB_URL, SB_PROXY_PORT, SB_ADMIN, SB_ADMIN_PASSWORD,
// SB_SUPER, SB_SUPER_PASSWORD, SB_ADV, SB_ADV_PASSWORD.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { axe as axeCheck, launch, startProxy, until } from './lib.mjs';

const SB = process.env.SB_URL;
const RES = `http://localhost:${process.env.SB_PROXY_PORT}`;
const E = process.env;
let browser, proxy;

before(async () => {
  assert.ok(SB && E.SB_ADMIN, 'SB_URL and the users are set by tests/e2e/run');
  proxy = await startProxy(+E.SB_PROXY_PORT, new URL(SB));
  browser = await launch();
});
after(async () => { await browser?.close(); await proxy?.close(); });

// SB_SHOTS=<folder>: screenshots of the states axe checks, to look at by eye.
let shot = 0;
async function axe(page, state) {
  if (E.SB_SHOTS) {
    await page.screenshot({ path: path.join(E.SB_SHOTS, `admin-${++shot}-${state.replace(/\W+/g, '-')}.png`), fullPage: true });
  }
  await axeCheck(page, state);
}

async function newPage() {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', e => errors.push(e.message));
  page.on('console', m => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) errors.push(m.text()); });
  return { ctx, page, errors };
}
// Signs in on the desk's sign-in form (the page opened is where it starts).
async function signIn(page, login, password) {
  await page.getByLabel('Login').fill(login);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
async function canSignIn(login, password) {
  const r = await fetch(SB + '/api/session', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ login, password }) });
  return r.status;
}
const otp = page => page.locator('#otp-code').textContent();
const row = (page, login) => page.locator(`#accounts tr[data-login="${login}"]`);

test('admin: signs in from the page, creates an advisor, form errors, resets the password, disables the account', async () => {
  const { ctx, page, errors } = await newPage();
  try {
    await page.goto(SB + '/desk/admin.html');
    await page.getByRole('heading', { name: 'Sign in to manage staff accounts' }).waitFor();
    await page.getByRole('link', { name: 'Sign in on the advisor desk' }).click();
    await page.getByRole('heading', { name: 'Sign in to the advisor desk' }).waitFor();
    await signIn(page, E.SB_ADMIN, E.SB_ADMIN_PASSWORD);
    await page.getByRole('heading', { name: 'Staff accounts', level: 1 }).waitFor();
    assert.match(page.url(), /\/desk\/admin\.html$/);
    await row(page, E.SB_SUPER).waitFor();
    assert.equal(await row(page, E.SB_SUPER).locator('td').nth(1).textContent(), 'Supervisor');
    await axe(page, 'admin page');

    // Errors tied to their fields: one found here, one the server finds.
    await page.getByRole('button', { name: 'Create account' }).click();
    const login = page.getByLabel('Login', { exact: true });
    assert.equal(await login.getAttribute('aria-invalid'), 'true');
    assert.equal(await login.getAttribute('aria-describedby'), 'c-login-err');
    assert.equal(await page.locator('#c-login-err').textContent(), 'Enter a login');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'c-login');
    await axe(page, 'admin page with a form error');
    await login.fill(E.SB_SUPER);
    await page.locator('#c-name').fill('Someone Else');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#c-login-err', { hasText: 'This login is taken.' }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'c-login');
    await page.getByLabel('Choose a password').check();
    await page.getByLabel('Password', { exact: true }).fill('short');
    await login.fill('e2e-newbie');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#c-password-err', { hasText: /at least 12 characters/ }).waitFor();
    assert.equal(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid'), 'true');

    // A new advisor serving Council Tax, with a one-time password.
    await page.getByLabel('Make a one-time password for me to pass on').check();
    await page.locator('#c-name').fill('Newbie Advisor');
    await page.locator('#c-role').selectOption('advisor');
    await page.getByLabel('Council Tax').check();
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'One-time password' }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'otp-h');
    const first = await otp(page);
    assert.equal(first.length, 20);
    assert.equal(await canSignIn('e2e-newbie', first), 200);
    assert.equal(await row(page, 'e2e-newbie').locator('td').nth(2).textContent(), 'Council Tax');
    await axe(page, 'admin page showing a one-time password');
    await page.getByRole('button', { name: 'I have noted it down' }).click();
    assert.equal(await page.locator('#otp').isHidden(), true);
    assert.equal(await otp(page), '');

    // Change: name and queues.
    await row(page, 'e2e-newbie').getByRole('button', { name: 'Change e2e-newbie' }).click();
    await page.getByRole('heading', { name: 'Change e2e-newbie' }).waitFor();
    await page.locator('#e-name').fill('Newbie Renamed');
    await page.locator('#edit').getByLabel('Bins and recycling').check();
    await page.getByRole('button', { name: 'Save changes' }).click();
    await row(page, 'e2e-newbie').locator('td', { hasText: 'Newbie Renamed' }).waitFor();
    assert.equal(await row(page, 'e2e-newbie').locator('td').nth(2).textContent(), 'Bins and recycling, Council Tax');

    // Capacities of their own: a wrong one is refused at its field; then Web chat 2 and Phone 0.
    assert.equal(await row(page, 'e2e-newbie').locator('td').nth(3).textContent(), 'Defaults');
    await row(page, 'e2e-newbie').getByRole('button', { name: 'Change e2e-newbie' }).click();
    await page.getByRole('heading', { name: 'Change e2e-newbie' }).waitFor();
    const edit = page.locator('#edit');
    await edit.getByLabel('Web chat', { exact: true }).fill('51');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('#e-cap-chat-err', { hasText: 'whole number from 0 to 50' }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'e-cap-chat');
    assert.equal(await edit.getByLabel('Web chat', { exact: true }).getAttribute('aria-invalid'), 'true');
    await axe(page, 'capacity with a field error');
    await edit.getByLabel('Web chat', { exact: true }).fill('2');
    await edit.getByLabel('Phone', { exact: true }).fill('0');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await row(page, 'e2e-newbie').locator('td', { hasText: 'Web chat 2, Phone 0' }).waitFor();

    // Reset the password, confirmed: the old one stops working.
    await row(page, 'e2e-newbie').getByRole('button', { name: 'Reset password e2e-newbie' }).click();
    const dialog = page.getByRole('dialog', { name: 'Reset the password of e2e-newbie?' });
    await dialog.waitFor();
    await axe(page, 'admin page asking to confirm');
    await dialog.getByRole('button', { name: 'Reset password' }).click();
    await page.getByRole('heading', { name: 'One-time password' }).waitFor();
    await until(async () => (await otp(page)) && (await otp(page)) !== first, 'a new password');
    const second = await otp(page);
    assert.equal(await canSignIn('e2e-newbie', first), 401);
    assert.equal(await canSignIn('e2e-newbie', second), 200);
    await page.getByRole('button', { name: 'I have noted it down' }).click();

    // Disable, after saying no once by keyboard (Escape: focus back on the button).
    const disable = row(page, 'e2e-newbie').getByRole('button', { name: 'Disable e2e-newbie' });
    await disable.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Disable e2e-newbie?' }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'confirm-no');
    await page.keyboard.press('Escape');
    await until(async () => await disable.evaluate(b => b === document.activeElement), 'focus back on Disable', 5000);
    assert.equal(await page.locator('#confirm').isVisible(), false);
    assert.equal(await row(page, 'e2e-newbie').locator('td').nth(4).textContent(), 'Enabled');
    await row(page, 'e2e-newbie').getByRole('button', { name: 'Disable e2e-newbie' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Disable account' }).click();
    await row(page, 'e2e-newbie').locator('td', { hasText: 'Disabled' }).waitFor();
    await row(page, 'e2e-newbie').getByRole('button', { name: 'Enable e2e-newbie' }).waitFor();
    assert.equal(await canSignIn('e2e-newbie', second), 401);
    // The admin's own row has no Disable button.
    assert.equal(await row(page, E.SB_ADMIN).getByRole('button', { name: /^Disable/ }).count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
  }
});

test('wallboard: a supervisor sees a waiting chat and an advisor\'s status live; an advisor is told it is for supervisors only', async () => {
  const adv = await newPage();
  const sup = await newPage();
  let res = null;
  try {
    // The advisor signs in on the desk and goes busy.
    await adv.page.goto(SB + '/desk/');
    await signIn(adv.page, E.SB_ADV, E.SB_ADV_PASSWORD);
    await adv.page.locator('#status-now', { hasText: 'Offline' }).waitFor();
    await adv.page.getByLabel('Change status to').selectOption('busy');
    await adv.page.getByRole('button', { name: 'Set status' }).click();
    await adv.page.locator('#status-now', { hasText: 'Busy' }).waitFor();
    assert.equal(await adv.page.getByRole('link', { name: 'Wallboard' }).isHidden(), true);

    // The supervisor: from the desk's link to the wallboard.
    await sup.page.goto(SB + '/desk/');
    await signIn(sup.page, E.SB_SUPER, E.SB_SUPER_PASSWORD);
    await sup.page.getByRole('link', { name: 'Wallboard' }).click();
    await sup.page.getByRole('heading', { name: 'Wallboard', level: 1 }).waitFor();
    const advRow = sup.page.locator('#advisors tr', { hasText: 'Avery Advisor' });
    await advRow.locator('.state', { hasText: 'Busy' }).waitFor({ timeout: 15000 });
    assert.match(await advRow.locator('td.since').textContent(), /^\d+ s$/);
    assert.match(await advRow.locator('td', { hasText: 'Web chat' }).textContent(), /Web chat: 0 of \d+/);
    const tax = sup.page.locator('#queues tr', { hasText: 'Council Tax' });
    await tax.waitFor();
    const before = Number(await tax.locator('td.waiting').textContent());

    // A resident starts a chat in Council Tax: it shows as waiting within a few seconds.
    res = await newPage();
    await res.page.goto(RES + '/widget/demo/');
    await res.page.locator('switchboard-chat .launch').click();
    await res.page.getByLabel('Your name').fill('Wendy Wallboard');
    await res.page.getByRole('button', { name: 'Start chat' }).click();
    await until(async () => Number(await tax.locator('td.waiting').textContent()) > before, 'the chat waiting on the wallboard')
      .catch(async e => {
        console.log('widget:', await res.page.locator('switchboard-chat').evaluate(w => (w.shadowRoot || w).textContent));
        throw e;
      });
    const w1 = await tax.locator('td.wait').textContent();
    assert.match(w1, /^\d+ s$/);
    await until(async () => (await tax.locator('td.wait').textContent()) !== w1, 'the longest wait ticking', 5000);
    // Tables for assistive technology: captions and headers.
    assert.equal(await sup.page.locator('#queues-table caption').textContent(), 'Queues');
    assert.equal(await sup.page.locator('#queues-table th[scope=col]').count(), 6);
    assert.equal(await sup.page.locator('#queues th[scope=row]', { hasText: 'Council Tax' }).count(), 1);
    // The ticking is not announced.
    assert.equal(await sup.page.locator('#queues [aria-live], #advisors [aria-live]').count(), 0);
    await axe(sup.page, 'wallboard');

    // The advisor changes status: the board follows.
    await adv.page.getByLabel('Change status to').selectOption('away');
    await adv.page.getByLabel('Reason for being away').selectOption('training');
    await adv.page.getByRole('button', { name: 'Set status' }).click();
    await advRow.locator('.state', { hasText: 'Away (training)' }).waitFor({ timeout: 15000 });

    // The advisor opens the wallboard: supervisors only.
    await adv.page.goto(SB + '/desk/wallboard.html');
    await adv.page.getByRole('heading', { name: 'Supervisors only' }).waitFor();
    await axe(adv.page, 'wallboard refused to an advisor');
    assert.deepEqual(sup.errors, []);
    assert.deepEqual(adv.errors, []);
  } finally {
    await res?.ctx.close();
    // The advisor's desk goes offline for the next run.
    await adv.ctx.close();
    await sup.ctx.close();
  }
});

test('audit log: an admin filters it by a record and by who; a supervisor is told it is for admins only', async () => {
  const adm = await newPage();
  const sup = await newPage();
  try {
    // Something to find: the supervisor views customer 1 (made here) twice.
    await sup.page.goto(SB + '/desk/');
    await signIn(sup.page, E.SB_SUPER, E.SB_SUPER_PASSWORD);
    await sup.page.getByRole('heading', { name: 'Your status' }).waitFor();
    const made = await sup.page.evaluate(async () => {
      const h = { 'Content-Type': 'application/json', 'X-Requested-With': 'test' };
      const c = await fetch('/api/customers', { method: 'POST', headers: h,
        body: JSON.stringify({ name: 'Audrey <b>Audit</b>' }) }).then(r => r.json());
      for (let i = 0; i < 2; i++) await fetch(`/api/customers/${c.id}`);
      return c.id;
    });
    assert.ok(made > 0);

    // The admin: from the desk's header link to the audit log.
    await adm.page.goto(SB + '/desk/');
    await signIn(adm.page, E.SB_ADMIN, E.SB_ADMIN_PASSWORD);
    await adm.page.getByRole('link', { name: 'Audit log' }).click();
    await adm.page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
    await adm.page.locator('#log tr').first().waitFor();
    await axe(adm.page, 'audit log');

    // A bad number is refused at its field.
    await adm.page.getByLabel('Its number').fill('12x');
    await adm.page.getByRole('button', { name: 'Show entries' }).click();
    await adm.page.locator('#f-id-err', { hasText: 'Enter a number' }).waitFor();
    assert.equal(await adm.page.getByLabel('Its number').getAttribute('aria-invalid'), 'true');
    await axe(adm.page, 'audit log with a field error');

    // That record: created once, viewed twice, by the supervisor; newest first.
    await adm.page.getByLabel('What').selectOption('customer');
    await adm.page.getByLabel('Its number').fill(String(made));
    await adm.page.getByRole('button', { name: 'Show entries' }).click();
    await adm.page.locator('#result-note', { hasText: '3 entries shown' }).waitFor();
    const rows = adm.page.locator('#log tr');
    assert.deepEqual(await rows.locator('td:nth-of-type(2)').allTextContents(),
      ['Viewed the record', 'Viewed the record', 'Created a record']);
    assert.deepEqual([...new Set(await rows.locator('td:nth-of-type(1)').allTextContents())], [E.SB_SUPER]);
    // The created name is in the details as text.
    assert.match(await rows.last().locator('td.detail').textContent(), /Audrey <b>Audit<\/b>/);
    assert.equal(await adm.page.locator('#log b').count(), 0);

    // By who: only the supervisor's entries; 50 a page, older ones on demand.
    await adm.page.getByLabel('What').selectOption('');
    await adm.page.getByLabel('Its number').fill('');
    await adm.page.getByLabel('Who (a login)').fill(E.SB_ADMIN);
    await adm.page.getByRole('button', { name: 'Show entries' }).click();
    // The note said "3 entries shown" before: wait for the new rows, not for any note.
    const whos = () => adm.page.locator('#log tr td:nth-of-type(1)').allTextContents();
    await until(async () => { const w = await whos(); return w.length > 0 && w.every(x => x === E.SB_ADMIN); },
      'only the admin\'s entries');

    // A supervisor may not read it.
    await sup.page.goto(SB + '/desk/audit.html');
    await sup.page.getByRole('heading', { name: 'Admins only' }).waitFor();
    await axe(sup.page, 'audit log refused to a supervisor');
    assert.deepEqual(adm.errors, []);
  } finally {
    await adm.ctx.close();
    await sup.ctx.close();
  }
});

test('access change: an advisor made supervisor on the admin API gets the wallboard link on the open desk, and is told', async () => {
  const adm = await newPage();
  const who = await newPage();
  try {
    await adm.page.goto(SB + '/desk/');
    await signIn(adm.page, E.SB_ADMIN, E.SB_ADMIN_PASSWORD);
    await adm.page.getByRole('heading', { name: 'Your status' }).waitFor();
    const login = 'promo' + Date.now().toString(36);
    const made = await adm.page.evaluate(async login => {
      const r = await fetch('/api/staff', { method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'test' },
        body: JSON.stringify({ login, name: 'Pat Promoted', role: 'advisor', queues: [] }) });
      return r.json();
    }, login);
    assert.ok(made.id > 0 && made.password, JSON.stringify(made));

    await who.page.goto(SB + '/desk/');
    await signIn(who.page, login, made.password);
    await who.page.getByRole('heading', { name: 'Your status' }).waitFor();
    await who.page.locator('#status-now', { hasText: 'Offline' }).waitFor();
    assert.equal(await who.page.getByRole('link', { name: 'Wallboard' }).isHidden(), true);

    const status = await adm.page.evaluate(async id => {
      const r = await fetch(`/api/staff/${id}`, { method: 'PATCH',
        headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'test' },
        body: JSON.stringify({ role: 'supervisor' }) });
      return r.status;
    }, made.id);
    assert.equal(status, 200);
    // The daemon closes the desk (4005); it connects again at once under the new role.
    await who.page.getByRole('link', { name: 'Wallboard' }).waitFor({ timeout: 15000 });
    await until(async () => /Your role is now Supervisor\./.test(await who.page.locator('#say-alert').textContent()), 'the new role announced')
      .catch(async e => { console.log('say:', await who.page.locator('#say-polite').textContent(), await who.page.locator('#say-alert').textContent()); throw e; });
    assert.equal(await who.page.getByRole('link', { name: 'Staff accounts' }).isHidden(), true);
    assert.equal(await who.page.locator('#signin').isHidden(), true);
    await axe(who.page, 'desk after a change of role');
    assert.deepEqual(who.errors, []);
    assert.deepEqual(adm.errors, []);
  } finally {
    await adm.ctx.close();
    await who.ctx.close();
  }
});

test('responses and codes: a supervisor manages canned responses, an admin wrap-up codes, an advisor is refused', async () => {
  const adv = await newPage();
  const sup = await newPage();
  const adm = await newPage();
  const tag = Date.now().toString(36);
  try {
    // An advisor: refused, with the way back.
    await adv.page.goto(SB + '/desk/');
    await signIn(adv.page, E.SB_ADV, E.SB_ADV_PASSWORD);
    await adv.page.getByRole('heading', { name: 'Your status' }).waitFor();
    assert.equal(await adv.page.getByRole('link', { name: 'Responses and codes' }).isHidden(), true);
    await adv.page.goto(SB + '/desk/settings.html');
    await adv.page.getByRole('heading', { name: 'Supervisors and admins only' }).waitFor();
    await axe(adv.page, 'responses and codes refused to an advisor');

    // The supervisor: from the desk's header link.
    await sup.page.goto(SB + '/desk/');
    await signIn(sup.page, E.SB_SUPER, E.SB_SUPER_PASSWORD);
    await sup.page.getByRole('link', { name: 'Responses and codes' }).click();
    await sup.page.getByRole('heading', { name: 'Canned responses and wrap-up codes', level: 1 }).waitFor();
    await axe(sup.page, 'responses and codes (supervisor)');
    const p = sup.page;
    // A blank title and a bad shortcut are refused at their fields.
    await p.getByLabel('Shortcut (optional)').fill('Bad Shortcut');
    await p.getByRole('button', { name: 'Add response' }).click();
    await p.locator('#cr-title-err', { hasText: 'enter a title' }).waitFor();
    assert.equal(await p.getByLabel('Title').getAttribute('aria-invalid'), 'true');
    assert.match(await p.locator('#cr-shortcut-err').textContent(), /lower-case/);
    assert.equal(await p.evaluate(() => document.activeElement.id), 'cr-title');
    await axe(p, 'canned response form with field errors');
    // Added, for Council Tax; markup in it stays text.
    await p.getByLabel('Title').fill(`Bills <b>${tag}</b>`);
    await p.getByLabel('Shortcut (optional)').fill(`bill-${tag}`);
    await p.getByLabel('Which queues it is for').selectOption({ label: 'Council Tax' });
    await p.getByLabel('Text', { exact: true }).fill('Hello {resident.first_name}, <img src=x onerror=alert(1)> your bill is on its way.');
    await p.getByRole('button', { name: 'Add response' }).click();
    const row = p.locator('#canned tr', { hasText: `Bills <b>${tag}</b>` });
    await row.waitFor();
    assert.equal(await p.locator('#canned img, #canned b').count(), 0);
    assert.match(await row.textContent(), new RegExp(`/bill-${tag}.*Council Tax.*<img src=x`));
    // The same shortcut again: refused at the shortcut.
    await p.getByLabel('Title').fill(`Second ${tag}`);
    await p.getByLabel('Shortcut (optional)').fill(`bill-${tag}`);
    await p.getByLabel('Text', { exact: true }).fill('Another text');
    await p.getByRole('button', { name: 'Add response' }).click();
    await p.locator('#cr-shortcut-err', { hasText: 'another active response has this shortcut' }).waitFor();
    // Changed, then made inactive: advisors no longer get it.
    await row.getByRole('button', { name: /^Change/ }).click();
    assert.equal(await p.evaluate(() => document.activeElement.id), 'cr-h');
    await p.getByLabel('Title').fill(`Bills ${tag}`);
    await p.getByRole('button', { name: 'Save changes' }).click();
    const changed = p.locator('#canned tr', { hasText: `Bills ${tag}` });
    await changed.waitFor();
    await changed.getByRole('button', { name: /^Make inactive/ }).click();
    await changed.locator('td', { hasText: /^Inactive$/ }).waitFor();
    const seen = await adv.page.evaluate(async () => (await fetch('/api/canned').then(r => r.json())).responses.map(r => r.title));
    assert.equal(seen.includes(`Bills ${tag}`), false);
    // Wrap-up codes: read-only for a supervisor.
    assert.equal(await p.locator('#codes-admins').isVisible(), true);
    assert.equal(await p.locator('#kd-panel').isHidden(), true);
    // The wrap-up report: the last 7 days at first (the record panel's past contacts were
    // wrapped up with codes since made inactive); a range the wrong way round is refused.
    await p.locator('#report caption', { hasText: /^Council Tax: \d+ wrapped up$/ }).waitFor();
    await p.locator('#report th[scope=row]', { hasText: 'Answered in full (inactive)' }).first().waitFor();
    assert.match(await p.locator('#report-note').textContent(), /wrapped up from \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d/);
    await axe(p, 'wrap-up report');
    await p.getByLabel('First day', { exact: true }).fill('2026-07-02');
    await p.getByLabel('Last day', { exact: true }).fill('2026-07-01');
    await p.getByRole('button', { name: 'Show report' }).click();
    await p.locator('#rp-error-text', { hasText: 'to must be on or after from' }).waitFor();
    await p.getByLabel('Last day', { exact: true }).fill('2026-07-03');
    await p.getByRole('button', { name: 'Show report' }).click();
    await p.locator('#report-note', { hasText: /^0 conversations wrapped up from 2026-07-02 to 2026-07-03/ }).waitFor();
    assert.equal(await p.locator('#rp-error').isHidden(), true);

    // The admin: a reason code for Council Tax.
    await adm.page.goto(SB + '/desk/settings.html');
    await adm.page.getByRole('heading', { name: 'Sign in to manage canned responses and wrap-up codes' }).waitFor();
    await adm.page.getByRole('link', { name: 'Sign in on the advisor desk' }).click();
    await signIn(adm.page, E.SB_ADMIN, E.SB_ADMIN_PASSWORD);
    await adm.page.getByRole('heading', { name: 'Canned responses and wrap-up codes', level: 1 }).waitFor();
    const a = adm.page;
    await a.getByLabel('Queue', { exact: true }).selectOption({ label: 'Council Tax' });
    await a.getByRole('button', { name: 'Show codes' }).click();
    await a.locator('#codes-caption', { hasText: 'Council Tax' }).waitFor();
    await a.getByLabel('Code', { exact: true }).fill(`bill-${tag}`);
    await a.getByLabel('Label', { exact: true }).fill(`Bill query ${tag}`);
    await a.getByRole('button', { name: 'Add code' }).click();
    const code = a.locator('#codes tr', { hasText: `Bill query ${tag}` });
    await code.waitFor();
    assert.match(await code.textContent(), /Reason/);
    // The same code again is refused at the code.
    await a.getByLabel('Code', { exact: true }).fill(`bill-${tag}`);
    await a.getByLabel('Label', { exact: true }).fill('Twice');
    await a.getByRole('button', { name: 'Add code' }).click();
    await a.locator('#kd-code-err', { hasText: 'this queue has that code already' }).waitFor();
    await axe(a, 'wrap-up code form with a field error');
    await code.getByRole('button', { name: /^Make inactive/ }).click();
    await code.locator('td', { hasText: /^Inactive$/ }).waitFor();
    await axe(a, 'responses and codes (admin)');
    for (const x of [adv, sup, adm]) assert.deepEqual(x.errors, []);
  } finally {
    await adv.ctx.close();
    await sup.ctx.close();
    await adm.ctx.close();
  }
});
