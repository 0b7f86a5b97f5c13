// The widget's UI and chat state, in one shadow root attached to one host
// element (<switchboard-chat>) so that it neither restyles the page nor is
// restyled by it. Speaks switchboard.chat.v1 (docs/chat-protocol.md) through
// conn.js. State S is kept in browser storage so a reload or another page of
// the site resumes the same chat: token, last seq shown, outbox, messages.
import { h, linkify, fmt } from './dom.js';
import { Conn, store, uuid } from './conn.js';
import { EN } from './strings.js';

const LOG_MAX = 200;
// Resume margin (docs/chat-protocol.md, "Across instances").
const RESUME_MARGIN_MS = 10000;

// Relative luminance of [r, g, b] (0–255), as WCAG defines it.
function lum(rgb) {
  const c = rgb.map(v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}

// The brand colour if white text on it reaches 4.5:1, else the same hue
// darkened until it does; the default when the value is not #rgb/#rrggbb.
export function safeColour(v) {
  if (!/^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(v || '')) return '#1d70b8';
  let x = v.slice(1);
  if (x.length === 3) x = x.replace(/./g, '$&$&');
  let rgb = [0, 2, 4].map(i => parseInt(x.slice(i, i + 2), 16));
  while (1.05 / (lum(rgb) + 0.05) < 4.5) rgb = rgb.map(c => Math.floor(c * 0.9));
  return '#' + rgb.map(c => c.toString(16).padStart(2, '0')).join('');
}

// A time for the resident: "17:00" today, else "Monday 8 December at 08:30".
function when(ms) {
  const d = new Date(ms), o = { hour: '2-digit', minute: '2-digit' };
  return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString('en-GB', o)
    : d.toLocaleString('en-GB', Object.assign({ weekday: 'long', day: 'numeric', month: 'long' }, o));
}

// firstTopics: a promise of the deployment's topics (topics.json, asked for by
// widget.js with the modules), null when they could not be had; fetchTopics()
// asks again.
export function mount(script, api, queued, firstTopics, fetchTopics) {
  const d = script.dataset;
  const src = new URL(script.src, location.href);
  const over = d.lang && window[d.lang];
  const T = Object.assign({}, EN, over && typeof over === 'object' ? over : {});
  if (d.title) T.title = d.title;
  const t = (k, v) => fmt(T[k], v || {});
  const st = store(d.storage);
  // The topics: the page's own list (data-topics="slug=Label;..."), else the
  // deployment's; the deployment's says which exist and which are open.
  const own = d.topics ? d.topics.split(';').map(p => p.split('=').map(x => x.trim()))
    .filter(p => p[0]).map(([queue, name]) => ({ queue, name: name || queue })) : null;
  let topics = [], known = null, skew = 0, topicsAt = 0, loading = true, tries = 0;
  let defQueue = d.queue || '';
  let privacy = null;
  try {
    const u = new URL(d.privacyUrl, location.href);
    if (d.privacyUrl && /^https?:$/.test(u.protocol)) privacy = u.href;
  } catch { /* no link */ }

  const fresh = () => ({ view: 'form', log: [], outbox: [], seq: 0 });
  let S = st.get() || fresh();
  if (!Array.isArray(S.log) || !Array.isArray(S.outbox)) S = fresh();
  const save = () => { S.log = S.log.slice(-LOG_MAX); st.set(S); };
  let ready = false, later = [], limits = { text_max: 4000 }, isOpen = false, unread = 0;
  let lastAnnounce = 0, annTimer = 0, typingOut = false, typingTimer = 0, advTypingTimer = 0;
  let readSent = 0, lastHref = location.href, reqId = 0;
  const els = new Map(); // seq or client id -> message element

  // ---- the shadow root and its fixed parts ----
  const host = document.createElement('switchboard-chat');
  const root = host.attachShadow({ mode: 'open' });
  const wrap = h('div', { class: 'sb', hidden: true });
  wrap.style.setProperty('--b', safeColour(d.colour));
  const link = h('link', { rel: 'stylesheet', href: new URL('widget.css', src).href });
  link.onload = link.onerror = () => { wrap.hidden = false; };
  const badge = h('span', { class: 'badge', hidden: true });
  const launcher = h('button', { type: 'button', class: 'launch', 'aria-expanded': 'false',
    'aria-controls': 'sb-panel', onclick: () => open(true) }, h('span', { text: T.title }), ' ', badge);
  const announcer = h('div', { class: 'vh', role: 'status', 'aria-live': 'polite' });
  const alertBox = h('div', { hidden: true });
  const errBox = h('p', { class: 'err', role: 'alert', hidden: true });
  const statusText = h('p', { class: 'stat', tabindex: '-1' });
  const leaveBtn = h('button', { type: 'button', class: 'sec', text: T.leaveInstead, onclick: leaveInstead });
  const connNote = h('p', { class: 'conn', text: T.offline, hidden: true });
  const statusBox = h('div', { class: 'status' }, statusText, leaveBtn, connNote);
  const viewBox = h('div');
  const log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions',
    'aria-label': T.log, tabindex: '0' });
  const typingEl = h('p', { class: 'typing', hidden: true });
  const msgIn = h('textarea', { id: 'sb-msg', rows: '2', maxlength: '4000', onkeydown: msgKey, oninput: typingInput });
  const composer = h('form', { class: 'composer', novalidate: true, onsubmit: e => { e.preventDefault(); submitMsg(); } },
    h('label', { for: 'sb-msg', text: T.message }),
    h('div', { class: 'row' }, msgIn, h('button', { type: 'submit', class: 'pri', text: T.send })));
  const endBtn = h('button', { type: 'button', class: 'sec', text: T.end, onclick: endChat });
  const conv = h('div', { class: 'conv' }, log, typingEl, composer, endBtn);
  const panel = h('div', { class: 'panel', id: 'sb-panel', role: 'dialog', 'aria-labelledby': 'sb-title',
    hidden: true, onkeydown: e => { if (e.key === 'Escape') { e.preventDefault(); close(); } } },
    h('div', { class: 'head' }, h('h2', { id: 'sb-title', text: T.title }),
      h('button', { type: 'button', class: 'x', 'aria-label': T.close, onclick: close }, '×')),
    h('div', { class: 'body' }, alertBox, errBox, statusBox, viewBox, conv));
  wrap.append(launcher, panel, announcer);
  root.append(link, wrap);

  const conn = new Conn((src.protocol === 'https:' ? 'wss://' : 'ws://') + src.host + '/ws',
    onMsg, onDown, () => !!(S.token || S.start || later.length));

  // ---- opening and closing ----
  function open(focus) {
    isOpen = S.open = true;
    save();
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute('aria-expanded', 'true');
    unread = 0;
    badge.hidden = true;
    if (focus) focusView();
    markRead();
    if (S.view === 'form' && !loading && Date.now() - topicsAt > 60000) loadTopics();
  }
  function close() {
    if (!isOpen) return;
    isOpen = S.open = false;
    save();
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute('aria-expanded', 'false');
    launcher.focus();
  }
  function focusView() {
    const v = S.view;
    const el = v === 'chat' ? msgIn : v === 'wait' ? statusText : viewBox.querySelector('select,input,h3,button');
    if (el) el.focus();
  }

  // Polite announcements, at most one every 15 s (the newest wins).
  function announce(text, now) {
    clearTimeout(annTimer);
    const wait = now ? 0 : Math.max(0, lastAnnounce + 15000 - Date.now());
    annTimer = setTimeout(() => { lastAnnounce = Date.now(); announcer.textContent = text; }, wait);
  }

  // ---- views ----
  function show(view) {
    errBox.hidden = true;
    S.view = view;
    save();
    render();
    if (isOpen) focusView();
  }
  function render() {
    const v = S.view;
    conv.hidden = !(v === 'wait' || v === 'chat' || v === 'ended');
    composer.hidden = endBtn.hidden = v === 'ended';
    statusBox.hidden = !(v === 'wait' || v === 'chat');
    leaveBtn.hidden = v !== 'wait';
    viewBox.replaceChildren(v === 'form' ? preChat() : v === 'offline' ? offlineView()
      : v === 'ended' ? endedView() : '');
    renderStatus();
  }
  // The estimated wait in words: "less than a minute", "about 1 minute", "about 3 minutes".
  function waitText(ms) {
    if (ms == null || ms < 0) return T.waitUnknown;
    if (ms < 60000) return T.waitLess;
    const m = Math.round(ms / 60000);
    return m === 1 ? T.waitOne : t('waitAbout', { m });
  }
  function statusLine() {
    if (S.view === 'chat') return S.advisor ? t('chattingWith', { name: S.advisor }) : '';
    if (!S.token) return T.connecting;
    if (S.position == null || S.position < 1) return T.waitingAdvisor;
    return t('position', { n: S.position }) + ' ' + waitText(S.wait);
  }
  function renderStatus() {
    statusText.textContent = statusLine();
    connNote.hidden = ready || !S.token;
  }

  // A labelled field with hint and error text tied by aria-describedby.
  function field(id, label, input, hint) {
    input.id = 'sb-' + id;
    const hi = hint ? h('p', { class: 'hint', id: input.id + '-h', text: hint }) : null;
    const er = h('p', { class: 'err', id: input.id + '-e', hidden: true });
    if (hi) input.setAttribute('aria-describedby', hi.id);
    input.sbErr = msg => {
      er.hidden = !msg;
      er.replaceChildren(h('span', { class: 'vh', text: T.errPrefix }), msg || '');
      if (msg) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
      const ids = [msg ? er.id : '', hi ? hi.id : ''].filter(Boolean).join(' ');
      if (ids) input.setAttribute('aria-describedby', ids); else input.removeAttribute('aria-describedby');
    };
    return h('div', { class: 'field' }, h('label', { for: input.id, text: label }), hi, er, input);
  }
  const inp = (type, extra) => h('input', Object.assign({ type }, extra));
  function check(pairs) {
    let first = null;
    for (const [el, msg] of pairs) {
      el.sbErr(msg);
      if (msg && !first) first = el;
    }
    if (first) first.focus();
    return !first;
  }
  // Roughly as the daemon checks them (identity.c).
  const emailErr = v => v && !/^[^\s@,;<>"()[\]:]+@[a-z\d.-]+\.[a-z\d-]*[a-z][a-z\d-]*$/i.test(v) ? T.errEmail : '';
  const mobileErr = v => v && !/^(\+|00|0|44)\d{9,14}$/.test(v.replace(/[\s().-]/g, '')) ? T.errMobile : '';
  const nameErr = v => !v ? T.errName : new TextEncoder().encode(v).length > 200 ? T.errNameLong : '';
  const privacyP = () => h('p', { class: 'hint' }, T.privacy, privacy ? ' ' : '',
    privacy ? h('a', { href: privacy, target: '_blank', rel: 'noopener noreferrer' }, T.privacyLink,
      h('span', { class: 'vh', text: T.newTab })) : '');

  // ---- topics ----
  // Takes the deployment's topics (null: not to be had) and makes the list.
  function setTopics(doc) {
    const list = doc && Array.isArray(doc.topics) ? doc.topics.filter(x => x && typeof x.queue === 'string') : null;
    if (list) {
      known = new Map(list.map(x => [x.queue, x]));
      skew = typeof doc.now_ms === 'number' ? doc.now_ms - Date.now() : 0;
      topicsAt = Date.now();
    }
    topics = (own || (known ? [...known.values()].map(x => ({ queue: x.queue, name: String(x.name || x.queue) })) : []))
      .map(x => Object.assign({}, x));
    if (!defQueue && topics.length) defQueue = topics[0].queue;
    if (defQueue && !topics.some(x => x.queue === defQueue)) {
      topics.unshift({ queue: defQueue, name: (known && known.get(defQueue) || {}).name || defQueue.replace(/-/g, ' ') });
    }
  }
  // Asks for the topics again (after a failure, with backoff, three times).
  function loadTopics() {
    loading = true;
    fetchTopics().then(topicsIn);
  }
  function topicsIn(doc) {
    loading = false;
    if (doc || !known) setTopics(doc);
    if (!doc && tries++ < 3) setTimeout(loadTopics, 2000 * tries);
    // A form being filled in is not redrawn (its topics' states are updated
    // in place); a view still waiting for the topics is.
    const f = viewBox.querySelector('form');
    if (f && f.sbRefresh) f.sbRefresh();
    else if (!f && (S.view === 'form' || (S.view === 'offline' && S.pick))) render();
  }
  // What a topic is now: open, startable while closed (its rule queues or
  // overflows), closed with or without leave-a-message, gone (the deployment
  // has no such topic), or maybe (the deployment's list could not be had).
  function topicState(queue) {
    const x = known && known.get(queue);
    if (!x) return { queue, s: known ? 'gone' : 'maybe' };
    const now = Date.now() + skew;
    let open = !!x.open;
    if (!open && x.next_open_ms > 0 && x.next_open_ms <= now) open = true;
    else if (open && x.closes_ms > 0 && x.closes_ms <= now) open = false;
    const r = x.out_of_hours;
    return Object.assign({}, x, { s: open ? 'open' : r === 'queue' || r === 'overflow' ? 'start'
      : r === 'closed' ? 'shut' : 'leave', next: open ? 0 : x.next_open_ms > now ? x.next_open_ms : 0 });
  }
  const topicName = q => (topics.find(x => x.queue === q) || { name: q }).name;
  // The topics a message may be left for: those the deployment has.
  const leaveChoices = () => topics.filter(x => known && known.has(x.queue));
  function topicLabel(x) {
    const st = topicState(x.queue).s;
    return st === 'gone' ? t('goneLabel', { name: x.name }) : st === 'leave' || st === 'shut' || st === 'start'
      ? t('closedLabel', { name: x.name }) : x.name;
  }
  function topicHint(x) {
    if (x.s === 'open') return x.closes_ms > 0 ? t('openUntil', { when: when(x.closes_ms) }) : T.openNow;
    if (x.s === 'gone') return t('unknownTopic', { name: topicName(x.queue) });
    if (x.s === 'maybe') return '';
    return T.closedNow + (x.next ? ' ' + t('nextOpen', { when: when(x.next) }) : '') + (x.s === 'start' ? ' ' + T.stillStart : '');
  }
  // To the leave-a-message form: for a closed topic, or (pick) to choose another.
  function goLeave(queue, x, pick, name) {
    Object.assign(S, { queue, closed: x.message || '', shut: x.s === 'leave', nextOpen: x.next || 0, noLeave: false,
      pick: !!pick, gone: pick ? topicName(queue) : '', name: name || S.name, start: false });
    show('offline');
  }

  function preChat() {
    if (!topics.length) {
      return loading ? h('p', { text: T.topicsLoading }) : h('div', {}, h('p', { class: 'err', role: 'alert', text: T.noTopics }),
        h('button', { type: 'button', class: 'sec', text: T.retry, onclick: () => { tries = 0; loadTopics(); render(); } }));
    }
    const name = inp('text', { autocomplete: 'name', maxlength: '200' });
    const email = inp('email', { autocomplete: 'email', spellcheck: 'false' });
    const mobile = inp('tel', { autocomplete: 'tel' });
    const sel = S.queue && topics.some(x => x.queue === S.queue) ? S.queue : defQueue;
    const topic = h('select', { onchange: showTopic }, topics.map(x => h('option', { value: x.queue, text: topicLabel(x), selected: x.queue === sel })));
    const topicField = field('topic', T.topic, topic, ' ');
    const hint = topicField.querySelector('.hint');
    const startPart = h('div', { class: 'part' }, field('name', T.name, name), field('email', T.email, email, T.emailHint),
      field('mobile', T.mobile, mobile), privacyP(), h('button', { type: 'submit', class: 'pri', text: T.start }));
    const notice = h('div', { class: 'part notice' });
    name.value = S.name || '';
    // The chosen topic's state, before anything is filled in: the form to
    // start a chat, or why not and the way to leave a message.
    function showTopic() {
      const x = topicState(topic.value);
      hint.textContent = topicHint(x);
      hint.hidden = !hint.textContent;
      hint.className = x.s === 'gone' ? 'hint err' : 'hint';
      const startable = x.s === 'open' || x.s === 'start' || x.s === 'maybe';
      startPart.hidden = !startable;
      notice.hidden = startable;
      const leave = x.s === 'gone' ? leaveChoices().length > 0 : x.s === 'leave';
      notice.replaceChildren(x.message && !startable ? h('p', { text: x.message }) : '',
        leave ? h('p', { text: T.leaveOffer }) : '',
        leave ? h('button', { type: 'button', class: 'pri', text: T.leaveTitle,
          onclick: () => goLeave(topic.value, x, x.s === 'gone', name.value.trim()) }) : '');
    }
    showTopic();
    const f = h('form', { novalidate: true, onsubmit: e => {
      e.preventDefault();
      if (startPart.hidden) return;
      const v = { name: name.value.trim(), email: email.value.trim(), mobile: mobile.value.trim() };
      if (!check([[name, nameErr(v.name)], [email, emailErr(v.email)], [mobile, mobileErr(v.mobile)]])) return;
      // startId: the same start sent again (its answer lost) is the same chat.
      S = Object.assign(fresh(), v, { queue: topic.value, start: true, open: true, startId: uuid() });
      clearLog();
      show('wait');
      conn.open();
      if (ready) sendStart();
    } },
    S.note ? h('p', { class: 'note', text: S.note }) : '',
    h('p', { text: T.intro }), topicField, startPart, notice);
    f.sbRefresh = () => {
      for (const o of topic.options) o.textContent = topicLabel({ queue: o.value, name: topicName(o.value) });
      showTopic();
    };
    return f;
  }

  function offlineView() {
    if (S.ref) {
      return h('div', {}, h('h3', { tabindex: '-1', text: T.leaveTitle }),
        h('p', { text: t('left', { ref: S.ref }) }),
        h('button', { type: 'button', class: 'sec', text: T.newChat, onclick: reset }));
    }
    const box = h('div', { class: 'part' }, h('h3', { tabindex: '-1', text: S.busy ? T.busyTitle : S.closed || S.shut ? T.closedTitle : T.leaveTitle }));
    if (S.gone) box.append(h('p', { class: 'err', text: t('unknownTopic', { name: S.gone }) }));
    if (S.closed) box.append(h('p', { text: S.closed }));
    if (S.nextOpen) box.append(h('p', { text: t('nextOpen', { when: when(S.nextOpen > 1e12 ? S.nextOpen : Date.now() + S.nextOpen) }) }));
    // A topic that is gone: the message goes to one the deployment has.
    const choices = S.pick ? leaveChoices() : null;
    if (S.noLeave || (choices && !choices.length)) return box;
    const pick = choices && h('select', {}, choices.map(x => h('option', { value: x.queue, text: topicLabel(x) })));
    // Refused by the daemon's limits (too_many_requests): said where the form is.
    if (S.limited) box.append(h('p', { class: 'err', text: T.limited }));
    const name = inp('text', { autocomplete: 'name', maxlength: '200' });
    const email = inp('email', { autocomplete: 'email', spellcheck: 'false' });
    const mobile = inp('tel', { autocomplete: 'tel' });
    const text = h('textarea', { rows: '4', maxlength: String(limits.text_max) });
    name.value = S.name || '';
    email.value = S.email || '';
    mobile.value = S.mobile || '';
    const sendBtn = h('button', { type: 'submit', class: 'pri', text: T.leaveSend });
    box.append(h('p', { text: T.leaveIntro }), h('form', { novalidate: true, onsubmit: e => {
      e.preventDefault();
      const v = { name: name.value.trim(), email: email.value.trim(), mobile: mobile.value.trim(), text: text.value.trim() };
      const none = !v.email && !v.mobile ? T.errContact : '';
      if (!check([[name, nameErr(v.name)], [email, emailErr(v.email) || none], [mobile, mobileErr(v.mobile)],
        [text, v.text ? '' : T.errText]])) return;
      Object.assign(S, { name: v.name, email: v.email, mobile: v.mobile });
      if (pick) S.queue = pick.value;
      const m = { type: 'message.leave', id: ++reqId, queue: S.queue || defQueue, name: v.name, text: v.text,
        client_id: uuid() };
      if (v.email) m.email = v.email;
      if (v.mobile) m.mobile = v.mobile;
      sendBtn.disabled = true;
      later.push(m);
      if (!conn.send(m)) conn.open(); else later = later.filter(x => x !== m);
    } }, pick ? field('ltopic', T.leaveTopic, pick) : '', field('lname', T.name, name), field('lemail', T.email, email),
    field('lmobile', T.mobile, mobile),
    field('ltext', T.leaveText, text), privacyP(), sendBtn));
    return box;
  }

  function endedView() {
    const box = h('div', {}, h('h3', { tabindex: '-1', text: T.endedTitle }),
      h('p', { text: T['ended_' + (S.by || 'system')] || T.ended_system }));
    if (S.rated) box.append(h('p', { text: T.rated }));
    else {
      const err = h('p', { class: 'err', id: 'sb-rate-e', hidden: true });
      const fs = h('fieldset', {}, h('legend', { text: T.rateQ }), err,
        [1, 2, 3, 4, 5].map(n => h('label', { class: 'radio' },
          h('input', { type: 'radio', name: 'sb-score', value: String(n) }), T['rate' + n])));
      const comment = h('textarea', { rows: '3', maxlength: '2000' });
      box.append(h('form', { novalidate: true, onsubmit: e => {
        e.preventDefault();
        const c = fs.querySelector('input:checked');
        if (!c) {
          err.hidden = false;
          err.replaceChildren(h('span', { class: 'vh', text: T.errPrefix }), T.errRating);
          fs.setAttribute('aria-describedby', err.id);
          fs.querySelector('input').setAttribute('aria-invalid', 'true');
          fs.querySelector('input').focus();
          return;
        }
        const m = { type: 'rating', score: +c.value };
        if (comment.value.trim()) m.comment = comment.value.trim();
        request(m);
      } }, fs, field('comment', T.comment, comment), h('button', { type: 'submit', class: 'pri', text: T.rateSend })));
    }
    if (S.limited) box.append(h('p', { class: 'err', text: T.limited }));
    if (S.transcript) box.append(h('p', { text: t(S.transcript === 'confirm' ? 'transcriptConfirm' : 'transcriptSent', { email: S.email }) }));
    else if (S.email && !S.limited) box.append(h('button', { type: 'button', class: 'sec', text: T.transcript,
      onclick: () => request({ type: 'transcript.request' }) }));
    box.append(h('button', { type: 'button', class: 'sec', text: T.newChat, onclick: reset }));
    return box;
  }

  function reset() {
    st.clear();
    S = Object.assign(fresh(), { open: isOpen });
    later = [];
    clearLog();
    show('form');
  }

  // ---- the log ----
  function clearLog() {
    log.replaceChildren();
    els.clear();
    typingEl.hidden = true;
  }
  function msgEl(e) {
    const own = e.from === 'resident';
    const who = own ? T.you : e.from === 'system' ? T.system : e.name || S.advisor || T.advisor;
    const at = new Date(e.at || Date.now()).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
    const el = h('div', { class: 'm ' + (own ? 'own' : e.from === 'system' ? 'sys' : 'adv') },
      h('p', { class: 'who' }, h('span', { text: who }), h('span', { class: 'vh', text: ', ' }), h('time', { text: at })),
      h('p', { class: 'txt' }, e.from === 'advisor' ? linkify(String(e.text), T.newTab) : String(e.text)),
      own ? h('p', { class: 'st' }) : '');
    el.sbEntry = e;
    return el;
  }
  function setSt(e, s) {
    if (s) e.st = s;
    const el = els.get(e.seq || e.client_id);
    const p = el && el.querySelector('.st');
    if (p) p.textContent = t('st_' + e.st, { why: e.why || '' });
  }
  // Place a message in seq order; own messages without a seq stay last.
  function place(e) {
    const el = msgEl(e);
    els.set(e.seq || e.client_id, el);
    if (e.client_id) els.set(e.client_id, el);
    let before = null;
    if (e.seq) {
      for (const c of log.children) {
        if (!c.sbEntry) continue;
        const s = c.sbEntry.seq;
        if (!s || s > e.seq) { before = c; break; }
      }
    }
    log.insertBefore(el, before);
    if (e.from === 'resident') setSt(e);
    log.scrollTop = log.scrollHeight;
  }
  // Newest seq at least RESUME_MARGIN_MS older than the newest message.
  function resumeAfter() {
    let newest = 0, after = 0;
    for (const e of S.log) if (e.seq && e.at > newest) newest = e.at;
    for (const e of S.log) if (e.seq && e.at && e.at <= newest - RESUME_MARGIN_MS && e.seq > after) after = e.seq;
    return after;
  }
  function addMessage(m) {
    if (typeof m.seq !== 'number') return;
    if (m.seq > S.seq) S.seq = m.seq;
    if (els.has(m.seq)) return;
    const mine = m.client_id && S.log.find(e => e.client_id === m.client_id);
    if (mine) {
      ack(mine, m.seq, m.at);
      return;
    }
    const e = { seq: m.seq, from: m.from, name: m.name, text: m.text, at: m.at };
    if (m.from === 'resident') e.st = 'sent';
    S.log.push(e);
    place(e);
    save();
    if (m.from === 'advisor') {
      typingEl.hidden = true;
      if (!isOpen) {
        unread++;
        badge.textContent = t('unread', { n: unread });
        badge.hidden = false;
      }
      markRead();
    }
  }
  function statusUpTo(seq, state) {
    if (typeof seq !== 'number' || (state !== 'read' && state !== 'delivered')) return;
    // Kept for a message whose ack comes after its status (it can, from another instance).
    S.upTo = S.upTo || {};
    S.upTo[state] = Math.max(S.upTo[state] || 0, seq);
    let changed = false;
    for (const e of S.log) {
      if (e.from !== 'resident' || !e.seq || e.seq > seq || e.st === 'read' || e.st === state) continue;
      setSt(e, state);
      changed = true;
    }
    if (changed) save();
  }
  function ack(e, seq, at) {
    S.outbox = S.outbox.filter(o => o.client_id !== e.client_id);
    if (!e.seq) {
      e.seq = seq;
      if (at) e.at = at;
      const el = els.get(e.client_id);
      if (el) { el.remove(); els.delete(e.client_id); }
      S.log = S.log.filter(x => x !== e);
      S.log.push(e);
      S.log.sort((a, b) => (a.seq || Infinity) - (b.seq || Infinity));
      place(e);
    }
    if (seq > S.seq) S.seq = seq;
    if (e.st === 'queued' || e.st === 'sending') setSt(e, 'sent');
    const up = S.upTo || {};
    if (seq <= (up.read || 0)) setSt(e, 'read');
    else if (seq <= (up.delivered || 0)) setSt(e, 'delivered');
    save();
  }
  function markRead() {
    if (!isOpen || !ready || document.visibilityState === 'hidden') return;
    const top = S.log.reduce((a, e) => e.from !== 'resident' && e.seq > a ? e.seq : a, 0);
    if (top > readSent && conn.send({ type: 'message.read', seq: top })) readSent = top;
  }
  function note(text) {
    log.append(h('p', { class: 'note', text }));
  }

  // ---- sending ----
  function submitMsg() {
    const text = msgIn.value.trim();
    if (!text) return;
    msgIn.value = '';
    const e = { from: 'resident', text, client_id: uuid(), at: Date.now(), st: 'queued' };
    S.outbox.push({ client_id: e.client_id, text });
    S.log.push(e);
    place(e);
    save();
    if (ready) flushOne(e.client_id, text);
    stopTyping();
  }
  function msgKey(e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submitMsg(); }
  }
  function flushOne(client_id, text) {
    if (!conn.send({ type: 'message.send', id: client_id, client_id, text })) return;
    const e = S.log.find(x => x.client_id === client_id);
    if (e && !e.seq) setSt(e, 'sending');
  }
  function flush() {
    for (const o of S.outbox) flushOne(o.client_id, o.text);
    const l = later;
    later = [];
    for (const m of l) if (!conn.send(m)) later.push(m);
  }
  function request(m) {
    later.push(m);
    if (ready || !S.token) flush(); else conn.open();
  }
  function typingInput() {
    if (!ready || S.view !== 'chat') return;
    if (!typingOut) { typingOut = true; conn.send({ type: 'typing', state: true }); }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 5000);
  }
  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingOut) { typingOut = false; conn.send({ type: 'typing', state: false }); }
  }
  function sendStart() {
    const m = { type: 'chat.start', id: ++reqId, queue: S.queue, name: S.name, client_id: S.startId,
      page: { url: location.href, title: document.title.slice(0, 300) } };
    if (S.email) m.email = S.email;
    if (S.mobile) m.mobile = S.mobile;
    conn.send(m);
  }
  function sendPage() {
    if (ready && S.token && S.view !== 'ended') conn.send({ type: 'page', url: location.href, title: document.title.slice(0, 300) });
  }
  function pageCheck() {
    if (location.href !== lastHref) { lastHref = location.href; sendPage(); }
  }
  function endChat() {
    request({ type: 'chat.end' });
  }
  function leaveInstead() {
    S.leaving = true;
    request({ type: 'chat.end' });
    S.token = null;
    S.start = false;
    show('offline');
  }
  function extend() {
    request({ type: 'session.extend' });
  }

  // ---- the server's messages ----
  function onDown() {
    ready = false;
    for (const e of S.log) if (e.st === 'sending') setSt(e, 'queued');
    renderStatus();
  }
  function settle() {
    ready = true;
    conn.settled();
    renderStatus();
  }
  function onMsg(m) {
    switch (m.type) {
    case 'hello':
      if (m.limits && m.limits.text_max > 0) {
        limits = m.limits;
        msgIn.maxLength = m.limits.text_max;
      }
      if (S.token) conn.send({ type: 'chat.resume', token: S.token, after: resumeAfter() });
      else if (S.start) sendStart();
      else { ready = true; flush(); }
      break;
    case 'chat.started':
      Object.assign(S, { token: m.token, conversation: m.conversation, reference: m.reference, start: false });
      save();
      settle();
      flush();
      break;
    case 'chat.resumed': {
      Object.assign(S, { conversation: m.conversation, reference: m.reference });
      const s = String(m.state || '');
      if (m.advisor && m.advisor.name) S.advisor = m.advisor.name;
      if (typeof m.position === 'number') S.position = m.position;
      if (m.read > 0) statusUpTo(m.read, 'read');
      settle();
      if (/end|closed/.test(s)) { if (S.view !== 'ended') { S.by = S.by || 'system'; show('ended'); } }
      else if (/assign|active|chat/.test(s) && S.view !== 'chat') show('chat');
      else if (/queue|wait/.test(s) && S.view !== 'wait') show('wait');
      else { save(); renderStatus(); }
      sendPage();
      flush();
      markRead();
      break;
    }
    case 'chat.queued': {
      const moved = S.position !== m.position;
      S.position = m.position;
      S.wait = m.estimated_wait_ms;
      if (S.view !== 'wait' && !S.leaving) show('wait');
      save();
      renderStatus();
      if (moved) announce(statusLine(), m.position === 1);
      break;
    }
    case 'chat.assigned':
      S.advisor = (m.advisor && m.advisor.name) || T.advisor;
      note(t('chattingWith', { name: S.advisor }));
      show('chat');
      break;
    case 'chat.requeued':
      clearTimeout(advTypingTimer);
      typingEl.hidden = true;
      // A transfer is not an advisor leaving: the resident is told where it goes.
      note(m.reason !== 'transferred' ? T.requeued : m.to === 'advisor' ? T.transferredAdvisor : T.transferredQueue);
      S.advisor = null;
      S.position = null;
      S.wait = null;
      show('wait');
      break;
    case 'message':
      addMessage(m);
      break;
    case 'message.ack': {
      const e = S.log.find(x => x.client_id === m.client_id);
      if (e && typeof m.seq === 'number') ack(e, m.seq, m.at);
      break;
    }
    case 'message.status':
      // Cumulative: the advisor has received (or read) everything up to seq.
      statusUpTo(m.seq, m.state);
      break;
    case 'typing':
      clearTimeout(advTypingTimer);
      // A late one after the chat ended shows nothing.
      typingEl.hidden = !m.state || S.view === 'ended';
      typingEl.textContent = t('typing', { name: S.advisor || T.advisor });
      if (!typingEl.hidden) {
        if (Date.now() - lastAnnounce > 30000) announce(typingEl.textContent);
        advTypingTimer = setTimeout(() => { typingEl.hidden = true; }, 30000);
      }
      break;
    case 'chat.ended':
      alertBox.hidden = true;
      stopTyping();
      clearTimeout(advTypingTimer);
      typingEl.hidden = true;
      if (S.leaving) { st.clear(); break; }
      S.by = m.by;
      S.outbox = [];
      show('ended');
      break;
    case 'chat.closed':
      Object.assign(S, { closed: m.message || T.closedTitle, busy: m.reason === 'unserved', noLeave: m.leave_message === false,
        nextOpen: m.next_open_ms > 0 ? m.next_open_ms : 0, start: false, token: null });
      show('offline');
      break;
    case 'message.left':
      S.ref = m.reference;
      later = later.filter(x => x.type !== 'message.leave');
      show('offline');
      break;
    case 'rating.saved':
      S.rated = true;
      show('ended');
      break;
    case 'transcript.queued':
      S.transcript = true;
      show('ended');
      break;
    case 'transcript.confirm':
      // The address is not verified: a link to confirm it was emailed first.
      S.transcript = 'confirm';
      show('ended');
      break;
    case 'session.expiring': {
      const ms = m.expires_ms > 1e12 ? m.expires_ms - Date.now() : m.expires_ms;
      const b = h('button', { type: 'button', class: 'pri', text: T.stillHere, onclick: extend });
      alertBox.replaceChildren(h('div', { class: 'exp', role: 'alertdialog', 'aria-labelledby': 'sb-exp-t',
        'aria-describedby': 'sb-exp-d' }, h('h3', { id: 'sb-exp-t', text: T.expTitle }),
      h('p', { id: 'sb-exp-d', text: t('expBody', { s: Math.max(0, Math.round(ms / 1000)) }) }), b));
      alertBox.hidden = false;
      if (!isOpen) open(false);
      b.focus();
      break;
    }
    case 'session.extended':
      alertBox.hidden = true;
      if (isOpen) focusView();
      break;
    case 'error':
      onError(m);
      break;
    }
  }
  function onError(m) {
    const c = m.code;
    if (c === 'expired') {
      st.clear();
      S = Object.assign(fresh(), { note: T.expired, open: isOpen });
      clearLog();
      show('form');
    } else if (c === 'too_long') {
      const e = S.log.find(x => x.client_id === m.id);
      if (e) {
        S.outbox = S.outbox.filter(o => o.client_id !== e.client_id);
        e.why = T.tooLong;
        setSt(e, 'failed');
        save();
      }
    } else if (c === 'not_started' && S.token) {
      ready = false;
      conn.send({ type: 'chat.resume', token: S.token, after: resumeAfter() });
    } else if (c === 'unavailable' || c === 'rate_limited') {
      setTimeout(() => { if (ready) flush(); }, 5000);
    } else if (c === 'too_many_requests') {
      S.limited = true;
      later = later.filter(x => x.type !== 'message.leave' && x.type !== 'transcript.request');
      show(S.view);
      announce(T.limited, true);
    } else if (c === 'ended') {
      S.outbox = [];
      if (S.view !== 'ended') show('ended');
    } else if (c === 'not_found') {
      // The topic is gone (never there, or removed since the list was read):
      // said where it is seen, and a message may be left about another one.
      const q = S.queue;
      if (known) known.delete(q);
      later = later.filter(x => x.type !== 'message.leave');
      Object.assign(S, { start: false, token: null, pick: true, gone: topicName(q), closed: '', shut: false,
        nextOpen: 0, noLeave: false });
      show('offline');
      loadTopics();
    } else if (c !== 'closed') {
      // Seen, and read out (role alert).
      errBox.textContent = t('problem', { msg: m.message || c });
      errBox.hidden = false;
    }
  }

  // ---- start ----
  fetchTopics = fetchTopics || (() => fetch(new URL('topics.json', src).href, { credentials: 'omit' })
    .then(r => r.ok ? r.json() : null).catch(() => null));
  (firstTopics || fetchTopics()).then(topicsIn);
  addEventListener('popstate', pageCheck);
  addEventListener('hashchange', pageCheck);
  setInterval(pageCheck, 2000);
  document.addEventListener('visibilitychange', markRead);
  for (const e of S.log) {
    if (e.st === 'sending') e.st = 'queued';
    place(e);
  }
  render();
  (document.body || document.documentElement).append(host);
  if (S.token || S.start) conn.open();
  if (S.open) open(false);
  api.open = () => open(true);
  api.close = close;
  for (const c of queued) api[c]();
  queued.length = 0;
}
