// Shared by the end-to-end test files: Debian's Chromium, an axe-core check, polling,
// and a TCP proxy a test can cut (the network going) and restore.
import assert from 'node:assert/strict';
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
