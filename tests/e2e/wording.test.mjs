// The widget says what is true (issue 13, item 21), in Debian's Chromium against
// fake-chat-server.mjs (a server the test scripts): the estimated wait in words with the
// right number ("less than a minute", "about 1 minute", "about 2 minutes"), and the
// advisor's typing line goes when the chat ends, even if the advisor never said they
// stopped. Run by ./run with the widget's other tests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { axe, launch } from './lib.mjs';
import { startServer } from './fake-chat-server.mjs';

let browser, srv;
before(async () => {
  srv = await startServer();
  browser = await launch();
});
after(async () => { await browser?.close(); await srv?.close(); });

async function startChat(page) {
  await page.goto(srv.url + '/widget/demo/');
  await page.locator('switchboard-chat .launch').click();
  await page.getByLabel('Your name').fill('Wendy Wording');
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.getByText(/You are number \d+ in the queue/).first().waitFor();
  return srv.conv();
}

test('the estimated wait: less than a minute, about 1 minute, about 2 minutes', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  try {
    const c = await startChat(page);
    const stat = text => page.locator('switchboard-chat .stat', { hasText: text }).waitFor();
    srv.queue(c.id, 1, 20000);
    await stat('You are number 1 in the queue. Estimated wait: less than a minute.');
    await axe(page, 'waiting, less than a minute');
    srv.queue(c.id, 1, 70000);
    await stat('You are number 1 in the queue. Estimated wait: about 1 minute.');
    srv.queue(c.id, 2, 120000);
    await stat('You are number 2 in the queue. Estimated wait: about 2 minutes.');
    assert.equal(await page.getByText(/1 minutes/).count(), 0);
  } finally {
    await ctx.close();
  }
});

test('the advisor\'s typing line goes when the chat ends', async () => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  try {
    const c = await startChat(page);
    srv.assign(c.id, 'Sam');
    await page.locator('switchboard-chat .stat', { hasText: 'You are chatting with Sam' }).waitFor();
    srv.typing(c.id, true);
    const typing = page.getByText('Sam is typing…');
    await typing.waitFor();
    srv.end(c.id, 'advisor');
    await page.getByText('The advisor ended the chat.').waitFor();
    assert.equal(await typing.isVisible(), false, 'no typing line once the chat ended');
    await axe(page, 'ended after typing');
  } finally {
    await ctx.close();
  }
});
