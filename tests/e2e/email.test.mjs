// End-to-end test of an email conversation in the advisor desk (advisor-desk/) against the
// REAL daemon started by ./run, as the advisor `emma`, the only one in the queue
// email-desk, where the daemon's mailbox `emma` (the Dovecot folder "Emma", started by
// ./run over implicit TLS) puts its mail. A resident's mail is saved into the folder with
// doveadm, read by the daemon, offered to emma and accepted; the desk says where a reply
// goes, emma replies by keyboard, the reply reaches the SMTP server started by ./run
// (aiosmtpd: every message it takes is a JSON file in SB_SMTP_OUT) with its threading
// headers, its state in the thread turns to sent, and the resident's answer to it comes
// back into the same conversation. axe clean at each step.
// Environment (set by ./run): SB_URL, SB_LOGIN, SB_PASSWORD, SB_DOVECOT, SB_SMTP_OUT,
// SB_PSQL, SB_PG_PORT, SB_SHOTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { axeShots, launch, setStatus, signedInDesk, sql, until } from './lib.mjs';

const SB = process.env.SB_URL;
const LOGIN = process.env.SB_LOGIN;
const PASSWORD = process.env.SB_PASSWORD;
let browser;

before(async () => {
  assert.ok(SB, 'SB_URL is set by tests/e2e/run');
  browser = await launch();
});
after(async () => { await browser?.close(); });

const axe = axeShots('email');
// A mail from the resident, saved into the mailbox's folder as delivery would.
function deliver(headers, body, plain = true) {
  const mime = plain ? ['MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8'] : [];
  const raw = headers.concat(mime, [''], body, ['']).join('\r\n');
  execFileSync('doveadm', ['-c', path.join(process.env.SB_DOVECOT, 'dovecot.conf'), 'save', '-u', 'council',
    '-m', 'Emma'], { input: raw });
}
// What the SMTP server took, addressed to rcpt.
function taken(rcpt) {
  const dir = process.env.SB_SMTP_OUT;
  return fs.readdirSync(dir).filter(f => f.endsWith('.json'))
    .map(f => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')))
    .filter(m => m.rcpt_tos.includes(rcpt));
}

test('email: read from the mailbox, offered, answered from the desk by keyboard, sent with its threading, ' +
  'the answer threaded back; axe clean', async () => {
  const { ctx, page, errors } = await signedInDesk(browser, SB, LOGIN, PASSWORD);
  const id = crypto.randomUUID();
  const rcpt = `edna.${id.slice(0, 8)}@example.org`;
  try {
    await setStatus(page, 'available');
    deliver([`From: Edna Email <${rcpt}>`, 'To: Demo District Council <contact@demo.example.gov.uk>',
      'Subject: Council tax band for 4 Elm Road', `Message-ID: <${id}@example.org>`,
      'Date: Mon, 07 Dec 2026 09:00:00 +0000'],
    ['Hello,', '', 'Why is 4 Elm Road in band D? It is a small flat.', '', 'Edna']);
    // Offered by channel in words, with the first lines, and accepted.
    await page.getByRole('heading', { name: 'Email offer: Email desk' }).waitFor({ timeout: 30000 });
    await page.getByRole('button', { name: 'Accept' }).click();
    const conv = await until(() => sql(`SELECT m.conversation_id FROM email_messages e JOIN messages m ON ` +
      `m.id = e.message_id WHERE e.rfc_message_id = '${id}@example.org'`), 'the mail imported');
    const item = page.locator(`#inbox button[data-inbox="${conv}"]`);
    await item.waitFor();
    await until(async () => /Email, Email desk/.test(await item.textContent()), 'channel and queue in words');
    await setStatus(page, 'away');
    await item.click();
    await page.getByRole('heading', { name: 'Email with Edna Email' }).waitFor();
    assert.equal(await page.locator('#c-subject').textContent(), 'Council tax band for 4 Elm Road');
    const first = page.locator('#thread li.resident', { hasText: 'It is a small flat.' });
    await first.waitFor();
    // Its acknowledgement, as the history knew it when the conversation was opened.
    assert.match(await first.locator('.meta').textContent(), /Acknowledg(ed by email|ement queued)/);
    // What Edna wrote, and nothing of the mail's headers.
    assert.equal(await first.locator('.txt').textContent(),
      'Hello,\n\nWhy is 4 Elm Road in band D? It is a small flat.\n\nEdna');
    // The composer says where the reply goes, and with what subject.
    const ref = sql(`SELECT reference FROM conversations WHERE id = ${conv}`);
    const to = page.locator('#composer-to');
    await to.waitFor();
    assert.equal(await to.textContent(),
      `It is sent by email to ${rcpt}, subject \u201cRe: Council tax band for 4 Elm Road [${ref}]\u201d.`);
    assert.equal(await page.locator('#composer-label').textContent(), 'Your email reply');
    assert.match(await page.locator('#composer').getAttribute('aria-describedby'), /composer-to/);
    await axe(page, 'email conversation open');

    // The reply, typed from the keyboard: Enter starts a new line (an email is not sent
    // half-written), Ctrl and Enter sends.
    assert.match(await page.locator('#composer-hint').textContent(), /^Enter starts a new line\. Ctrl and Enter sends/);
    await page.locator('#composer').focus();
    await page.keyboard.type('Dear Edna,');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Enter');
    await page.keyboard.type('Bands are set by the Valuation Office Agency; you can ask them to check it.');
    assert.equal(sql(`SELECT count(*) FROM messages WHERE conversation_id = ${conv} AND direction = 'out'`), '0');
    assert.equal(await page.locator('#composer').inputValue(),
      'Dear Edna,\n\nBands are set by the Valuation Office Agency; you can ask them to check it.');
    await page.keyboard.press('Control+Enter');
    const mine = page.locator('#thread li.advisor', { hasText: 'Valuation Office Agency' });
    await mine.waitFor();
    await until(async () => (await mine.locator('.meta').textContent()).includes(`Sent by email to ${rcpt}`),
      'the reply shown sent', 30000);
    await axe(page, 'email reply sent');
    // At the SMTP server once, threaded, as the council.
    const replies = () => taken(rcpt).filter(m => !/^Auto-Submitted:/m.test(m.data));
    const got = await until(() => replies().length ? replies() : null, 'the reply at the SMTP server');
    assert.equal(got.length, 1);
    // The mailbox acknowledged the new mail once, as an automatic reply.
    const acks = taken(rcpt).filter(m => /^Auto-Submitted: auto-replied/m.test(m.data));
    assert.equal(acks.length, 1);
    assert.match(acks[0].data, new RegExp(`\\[${ref}\\]`));
    const data = got[0].data;
    assert.match(data, new RegExp(`In-Reply-To: <${id}@example\\.org>`));
    assert.match(data, new RegExp(`References: <${id}@example\\.org>`));
    assert.match(data, new RegExp(`Subject: Re: Council tax band for 4 Elm Road \\[${ref}\\]`));
    assert.match(data, /Dear Edna,\r\n\r\nBands are set by the Valuation Office Agency/);
    const ours = data.match(/Message-ID: <([^>]+)>/)[1];

    // Edna answers the reply with a subject of her own and her bill attached: back in the
    // same conversation, the attachment named.
    const pdf = Buffer.from('%PDF-1.4 a council tax bill').toString('base64');
    deliver([`From: Edna Email <${rcpt}>`, 'To: contact@demo.example.gov.uk', 'Subject: thank you',
      `Message-ID: <${id}.2@example.org>`, `In-Reply-To: <${ours}>`, `References: <${id}@example.org> <${ours}>`,
      'Date: Mon, 07 Dec 2026 10:00:00 +0000', 'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"'],
    ['--b1', 'Content-Type: text/plain; charset=utf-8', '', 'Thank you, I will ask them.', '--b1',
      'Content-Type: application/pdf; name="bill.pdf"', 'Content-Disposition: attachment; filename="bill.pdf"',
      'Content-Transfer-Encoding: base64', '', pdf, '--b1--'], false);
    const answer = page.locator('#thread li.resident', { hasText: 'Thank you, I will ask them.' });
    await answer.waitFor({ timeout: 30000 });
    assert.equal(await answer.locator('.att').textContent(), '1 attachment: bill.pdf (application/pdf, 27 bytes)');
    // Downloaded from the desk: the bytes sent, as a file, never shown in the page.
    const [download] = await Promise.all([page.waitForEvent('download'),
      answer.getByRole('link', { name: 'bill.pdf' }).click()]);
    assert.equal(download.suggestedFilename(), 'bill.pdf');
    assert.equal(fs.readFileSync(await download.path(), 'latin1'), '%PDF-1.4 a council tax bill');
    assert.equal(sql(`SELECT count(DISTINCT m.conversation_id) FROM email_messages e JOIN messages m ON ` +
      `m.id = e.message_id WHERE e.rfc_message_id LIKE '${id}%'`), '1');
    await axe(page, 'email answer threaded back');
    // Both mails moved to the processed folder after import.
    await until(() => execFileSync('doveadm', ['-c', path.join(process.env.SB_DOVECOT, 'dovecot.conf'), 'search',
      '-u', 'council', 'mailbox', 'Done', 'header', 'Message-ID', id], { encoding: 'utf8' })
      .trim().split('\n').filter(Boolean).length === 2, 'both moved to Done');
    assert.deepEqual(errors.filter(e => !/401/.test(e)), []);
  } finally {
    await ctx.close();
  }
});
