// Shared by the end-to-end test files: Debian's Chromium, an axe-core check, polling,
// a TCP proxy a test can cut (the network going) and restore, and for the desk's files
// (desk.test.mjs, record.test.mjs) a resident on the widget's demo page and an advisor's
// desk page.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const AXE = fs.readFileSync(path.join(HERE, 'node_modules/axe-core/axe.min.js'), 'utf8');
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

export const launch = () => chromium.launch({ executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-background-networking'] });

// Zero WCAG 2.x A/AA violations on the page as it is now.
export async function axe(page, state) {
  await page.evaluate(AXE);
  const r = await page.evaluate(tags => window.axe.run(document, { runOnly: { type: 'tag', values: tags } }), TAGS);
  const v = r.violations.map(x => `${x.id}: ${x.nodes.map(n => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(v, [], `axe violations in state "${state}"`);
}

// An axe check that first saves a screenshot of the page when SB_SHOTS names a folder
// (<prefix>-<n>-<state>.png), to look at by eye.
export function axeShots(prefix) {
  let n = 0;
  return async (page, state) => {
    if (process.env.SB_SHOTS) {
      await page.screenshot({ path: path.join(process.env.SB_SHOTS,
        `${prefix}-${++n}-${state.replace(/\W+/g, '-')}.png`), fullPage: true });
    }
    await axe(page, state);
  };
}

// One statement through psql on the test's PostgreSQL (SB_PSQL, SB_PG_PORT, set by ./run):
// its output, trimmed.
export function sql(q) {
  return execFileSync(process.env.SB_PSQL, ['-X', '-q', '-tA', '-h', '127.0.0.1', '-p', process.env.SB_PG_PORT,
    '-U', 'switchboard', '-d', 'switchboard', '-c', q], { encoding: 'utf8' }).trim();
}

// fn() until it is truthy (then its value), failing after ms.
export async function until(fn, what, ms = 15000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail('timed out waiting for ' + what);
    await new Promise(r => setTimeout(r, 50));
  }
}

// 127.0.0.1:port -> 127.0.0.1:target.port; cut() drops every connection and refuses new
// ones until restore().
export function startProxy(port, target) {
  const socks = new Set();
  const p = { down: false };
  const srv = net.createServer(c => {
    if (p.down) { c.destroy(); return; }
    const u = net.connect(target.port, '127.0.0.1');
    socks.add(c); socks.add(u);
    c.pipe(u); u.pipe(c);
    const gone = () => { c.destroy(); u.destroy(); socks.delete(c); socks.delete(u); };
    c.on('error', gone); u.on('error', gone); c.on('close', gone); u.on('close', gone);
  });
  p.cut = () => { p.down = true; for (const s of socks) s.destroy(); socks.clear(); };
  p.restore = () => { p.down = false; };
  p.close = () => new Promise(r => { p.cut(); srv.close(() => r()); });
  return new Promise(r => srv.listen(port, '127.0.0.1', () => r(p)));
}

// ---- the resident: the widget's demo page, in a browser context of its own ----
export const wtext = (page, text) => page.locator('switchboard-chat .log .m .txt', { hasText: text }).first();
export async function startResident(browser, base, name, email, mobile) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', e => errors.push(e.message));
  await page.goto(base + '/widget/demo/');
  await page.locator('switchboard-chat .launch').click();
  await page.getByLabel('Your name').fill(name);
  if (email) await page.getByLabel(/Email address/).fill(email);
  if (mobile) await page.getByLabel(/Mobile number/).fill(mobile);
  await page.getByRole('button', { name: 'Start chat' }).click();
  return { ctx, page, errors };
}
// A message left on the widget's protocol (message.leave: queue, name, email and mobile
// optional, text) from a page of base, an origin the daemon lets embed the widget (the
// widget's own form is the widget tests' business): resolves with its reference.
export async function leaveMessage(browser, base, msg) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  try {
    await page.goto(base + '/widget/demo/');
    return await page.evaluate(msg => new Promise((resolve, reject) => {
      const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws', 'switchboard.chat.v1');
      ws.onopen = () => ws.send(JSON.stringify({ type: 'message.leave', id: 1, ...msg,
        client_id: crypto.randomUUID() }));
      ws.onmessage = e => {
        const m = JSON.parse(e.data);
        if (m.type === 'message.left') { ws.close(); resolve(m.reference); }
        if (m.type === 'error') reject(new Error(m.code));
      };
    }), msg);
  } finally {
    await ctx.close();
  }
}
export async function residentSays(page, text) {
  await page.getByLabel('Your message').fill(text);
  await page.getByLabel('Your message').press('Enter');
}

// ---- the desk ----
export async function openDesk(browser, base) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', e => errors.push(e.message));
  page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(base + '/desk/');
  await page.getByRole('heading', { name: 'Sign in to the advisor desk' }).waitFor();
  return { ctx, page, errors };
}
// A desk page signed in as login; its status is whatever the advisor had (offline, or
// away after drain()).
export async function signedInDesk(browser, base, login, password) {
  const { ctx, page, errors } = await openDesk(browser, base);
  await page.getByLabel('Login').fill(login);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Your status' }).waitFor();
  await page.locator('#status-now', { hasText: /Offline|Away/ }).waitFor();
  return { ctx, page, errors };
}
// Sets the desk's status from its form (away: for training).
export async function setStatus(page, status) {
  await page.getByLabel('Change status to').selectOption(status);
  if (status === 'away') await page.getByLabel('Reason for being away').selectOption('training');
  await page.getByRole('button', { name: 'Set status' }).click();
  await page.locator('#status-now', { hasText: status === 'away' ? 'Away' : 'Available' }).waitFor();
}
export async function goAway(page) {
  if (await page.locator('#desk').isHidden()) return;
  await page.getByLabel('Change status to').selectOption('away');
  await page.getByLabel('Reason for being away').selectOption('training');
  await page.getByRole('button', { name: 'Set status' }).click();
  await page.locator('#status-now', { hasText: 'Away' }).waitFor();
}
// Ends what a failed test left: the open chat is released, then the desk goes away.
export async function cleanUp(page) {
  const rel = page.locator('#close-btn');
  if (await rel.isVisible().catch(() => false) && await rel.isEnabled().catch(() => false)) {
    await rel.click().catch(() => {});
    await page.locator('#c-state', { hasText: /left your list/ }).waitFor({ timeout: 5000 }).catch(() => {});
  }
  await goAway(page).catch(() => {});
}
// Before each test: a desk of the same advisor takes whatever waits for it (left by an
// earlier test or file) and releases it as closed, then goes away.
export async function drain(browser, base, login, password) {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(base + '/desk/');
  await page.evaluate(async ({ login, password }) => {
    const r = await fetch('/api/session', { method: 'POST', body: JSON.stringify({ login, password }),
      headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'test' } });
    if (!r.ok) throw new Error('sign-in answered ' + r.status);
    await new Promise(resolve => {
      const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws', 'switchboard.v1');
      let quiet = 0;
      const settle = () => { clearTimeout(quiet); quiet = setTimeout(() => {
        ws.send(JSON.stringify({ type: 'desk.status', status: 'away', reason: 'test' }));
        setTimeout(() => { ws.close(); resolve(); }, 300);
      }, 1500); };
      ws.onmessage = e => {
        const m = JSON.parse(e.data);
        if (m.type === 'desk.ready') {
          ws.send(JSON.stringify({ type: 'desk.status', status: 'available' }));
          // Ended chats waiting for this advisor's wrap-up are closed too.
          ws.send(JSON.stringify({ type: 'conversation.wrap_ups', id: 'wrap-ups' }));
        }
        if (m.type === 'conversation.wrap_ups') {
          for (const c of m.conversations) {
            ws.send(JSON.stringify({ type: 'conversation.release', conversation: c.conversation, why: 'closed' }));
          }
        }
        if (m.type === 'desk.conversations') {
          for (const c of m.conversations) {
            if (c.state === 'offered') ws.send(JSON.stringify({ type: 'offer.accept', conversation: c.conversation }));
            else ws.send(JSON.stringify({ type: 'conversation.release', conversation: c.conversation, why: 'closed' }));
          }
        }
        if (m.type === 'offer') ws.send(JSON.stringify({ type: 'offer.accept', conversation: m.conversation }));
        if (m.type === 'conversation.assigned') {
          ws.send(JSON.stringify({ type: 'conversation.release', conversation: m.conversation, why: 'closed' }));
        }
        settle();
      };
      ws.onclose = () => resolve();
    });
  }, { login, password });
  await ctx.close();
}
