// bench_widget.mjs -- what the resident's widget and the staff desk cost a browser:
// requests, bytes on the wire and round trips on a first view (empty cache) and on a
// repeat view (the same browser profile, the page opened again), in Debian's Chromium
// through playwright-core (installed by tests/e2e/run under tests/e2e/node_modules).
//
//   node tests/bench/bench_widget.mjs BASE_URL [LATENCY_MS]
//
// Each view is watched through the DevTools protocol (Network domain): every request,
// its status, whether it came from the cache, and the bytes received for it (headers and
// body as sent, so compressed when it was). Round trips (the page is round 1, what it
// asks for at once round 2, what those ask for round 3...) are counted in a first view with LATENCY_MS (default 100) added to every request by
// Chromium's network emulation: a request is one round after the last one that had
// finished before it started. The time until the part is usable in that view is printed
// too (over the added latency, it counts the round trips another way).
// Prints key=value lines (tests/bench/run-widget makes the table). It reports; it does not
// pass or fail.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = await import(path.join(HERE, '../e2e/node_modules/playwright-core/index.mjs'));
const BASE = process.argv[2];
const LATENCY = +(process.argv[3] || 100);
if (!BASE) {
  console.error('usage: bench_widget.mjs BASE_URL [LATENCY_MS]');
  process.exit(2);
}

// The pages measured: where, what counts as the part's own files, when it is usable.
const PARTS = [
  { name: 'widget', url: BASE + '/widget/demo/', own: u => u.pathname.startsWith('/widget/') && !u.pathname.startsWith('/widget/demo/'),
    ready: page => page.locator('switchboard-chat .launch').waitFor({ state: 'visible', timeout: 30000 }) },
  { name: 'desk', url: BASE + '/desk/', own: u => u.pathname.startsWith('/desk/'),
    ready: page => page.getByRole('heading', { name: 'Sign in to the advisor desk' }).waitFor({ timeout: 30000 }) }
];

// Every request of one navigation, with what the protocol said about it.
async function watch(ctx, page) {
  const cdp = await ctx.newCDPSession(page);
  const reqs = new Map(), wire = new Map();
  await cdp.send('Network.enable');
  cdp.on('Network.requestWillBeSent', e => {
    if (e.request.url.startsWith('data:')) return;
    reqs.set(e.requestId, { url: e.request.url, start: e.timestamp, status: 0, bytes: 0, cached: false, gzip: false });
  });
  cdp.on('Network.responseReceived', e => {
    const r = reqs.get(e.requestId);
    if (!r) return;
    r.status = e.response.status;
    r.cached = !!(e.response.fromDiskCache || e.response.fromPrefetchCache || e.response.fromServiceWorker);
    const h = Object.fromEntries(Object.entries(e.response.headers || {}).map(([k, v]) => [k.toLowerCase(), v]));
    r.gzip = /gzip/.test(h['content-encoding'] || '');
    // Until loadingFinished says otherwise: the headers and the announced body.
    r.bytes = (e.response.encodedDataLength || 0) + (+h['content-length'] || 0);
  });
  cdp.on('Network.requestServedFromCache', e => { const r = reqs.get(e.requestId); if (r) r.cached = true; });
  // The status as it came over the wire (a revalidated file is reported 200 above); this
  // event may come before the request's own.
  cdp.on('Network.responseReceivedExtraInfo', e => { wire.set(e.requestId, e.statusCode); });
  cdp.on('Network.loadingFinished', e => {
    const r = reqs.get(e.requestId);
    if (r) { r.bytes = e.encodedDataLength; r.end = e.timestamp; }
  });
  return { cdp, reqs, wire };
}

// Round trips, from the times of a view with latency added to every request: the page
// is round 1; any other request is one round after the last request that had finished
// before it started (with 100 ms on each request, those are the ones it waited for).
function rounds(list) {
  const done = list.filter(r => r.end).sort((a, b) => a.end - b.end);
  for (const r of [...list].sort((a, b) => a.start - b.start)) {
    r.depth = 1 + done.filter(q => q !== r && q.end <= r.start).reduce((a, q) => Math.max(a, q.depth || 0), 0);
  }
}

// Waits until no request has been in flight for quiet ms (the widget's lazy parts too).
async function settle(reqs, quiet = 700) {
  let last = -1, since = Date.now();
  for (;;) {
    // Answered counts as done: a fetch whose body the page never reads (the desk's
    // session check when signed out) is never reported finished.
    const busy = [...reqs.values()].filter(r => !r.end && !r.status && !r.failed).length;
    const n = reqs.size;
    if (busy !== 0 || n !== last) { last = n; since = Date.now(); }
    if (Date.now() - since >= quiet) return;
    await new Promise(r => setTimeout(r, 50));
  }
}

function sum(list) {
  return {
    requests: list.length,
    bytes: list.reduce((a, r) => a + r.bytes, 0),
    s200: list.filter(r => (r.wire || r.status) === 200 && !r.cached).length,
    s304: list.filter(r => (r.wire || r.status) === 304).length,
    cached: list.filter(r => r.cached).length,
    gzip: list.filter(r => r.gzip).length
  };
}

function print(prefix, s) {
  for (const [k, v] of Object.entries(s)) console.log(`${prefix}_${k}=${v}`);
}

// One view of part in ctx: its requests (after the part is usable and the network quiet),
// and the ms from the navigation's start to usable and from the page's arrival to usable.
async function view(ctx, part, latency) {
  const page = await ctx.newPage();
  const { cdp, reqs, wire } = await watch(ctx, page);
  cdp.on('Network.loadingFailed', e => { const r = reqs.get(e.requestId); if (r) r.failed = true; });
  if (latency) {
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency,
      downloadThroughput: -1, uploadThroughput: -1 });
  }
  const t0 = Date.now();
  await page.goto(part.url, { waitUntil: 'commit' });
  const commit = Date.now() - t0;
  await part.ready(page);
  const ready = Date.now() - t0;
  await settle(reqs);
  await page.close();
  const list = [...reqs.entries()].filter(([, r]) => !r.failed).map(([id, r]) => Object.assign(r, { wire: wire.get(id) }));
  rounds(list);
  return { list, own: list.filter(r => part.own(new URL(r.url))), ready, afterPage: ready - commit };
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-background-networking'] });
try {
  for (const part of PARTS) {
    // First view, then a repeat view in the same profile (a normal navigation, as a
    // resident opening another page of the site or coming back tomorrow does).
    const ctx = await browser.newContext();
    const first = await view(ctx, part, 0);
    const repeat = await view(ctx, part, 0);
    await ctx.close();
    // The first view again, with latency on every request: round trips and time to usable.
    const slowCtx = await browser.newContext();
    const slow = await view(slowCtx, part, LATENCY);
    await slowCtx.close();
    const r = slow.own.reduce((a, x) => Math.max(a, x.depth), 0);
    for (const [name, v] of [['first', first], ['repeat', repeat]]) {
      print(`${part.name}_${name}`, sum(v.own));
      print(`${part.name}_${name}_page`, sum(v.list));
    }
    console.log(`${part.name}_rounds_after_page=${r - 1}`);
    console.log(`${part.name}_latency_ms=${LATENCY}`);
    console.log(`${part.name}_ready_ms=${slow.ready}`);
    console.log(`${part.name}_ready_after_page_ms=${slow.afterPage}`);
    const depth = new Map(slow.list.map(x => [x.url, x.depth]));
    for (const [v, list] of [['first', first.list], ['repeat', repeat.list]]) {
      for (const x of list) {
        console.log(`${part.name}_${v}_file=${new URL(x.url).pathname} status=${x.wire || x.status}` +
          ` bytes=${x.bytes}${v === 'first' ? ' round=' + (depth.get(x.url) || '?') : ''}` +
          `${x.gzip ? ' gzip' : ''}${x.cached ? ' cache' : ''}`);
      }
    }
  }
} finally {
  await browser.close();
}
