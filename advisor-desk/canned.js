// Canned responses for the composer: the list the daemon gives (GET /api/canned, the
// responses of the advisor's queues and the global ones), their placeholders and how they
// are filled in, and the picker next to the composer (a search field and a list of
// buttons). The text is filled in here, in the desk, so the advisor sees and can edit
// what will be sent; a placeholder with no value, or one Switchboard does not know, is
// left as it is and the advisor is told (docs/desk.md). Every string from the network
// goes into the page with textContent.

// The placeholders a canned response may hold, and what they become.
export const PLACEHOLDERS = {
  'resident.name': 'the resident’s name as they gave it',
  'resident.first_name': 'the first word of the resident’s name',
  'advisor.name': 'your name',
  'advisor.first_name': 'the first word of your name',
  reference: 'the conversation’s reference (for example SB10000008)',
  'queue.name': 'the name of the conversation’s queue',
  'council.name': 'the council’s name'
};
const TOKEN = /\{([A-Za-z_]+(?:\.[A-Za-z_]+)?)\}/g;
const uniq = a => [...new Set(a)];

export function firstName(name) {
  return String(name || '').trim().split(/\s+/)[0] || '';
}

// The text with every placeholder that has a value filled in. missing: placeholders
// without a value here; unknown: {…} that are not placeholders. Both are left in the text.
export function expand(text, values) {
  const missing = [], unknown = [];
  const out = String(text).replace(TOKEN, (all, key) => {
    if (!Object.hasOwn(PLACEHOLDERS, key)) { unknown.push(all); return all; }
    const v = values[key];
    if (v == null || String(v).trim() === '') { missing.push(all); return all; }
    return String(v);
  });
  return { text: out, missing: uniq(missing), unknown: uniq(unknown) };
}

// The {…} still in a text (about to be sent).
export function leftovers(text) {
  return uniq([...String(text).matchAll(TOKEN)].map(m => m[0]));
}

// Words for the advisor about what was not filled in; '' when all was.
export function warning(missing, unknown) {
  const parts = [];
  if (missing.length) parts.push(`${missing.join(', ')} ${missing.length > 1 ? 'have' : 'has'} no value for this conversation`);
  if (unknown.length) parts.push(`${unknown.join(', ')} ${unknown.length > 1 ? 'are not placeholders' : 'is not a placeholder'} Switchboard knows`);
  return parts.length ? `Check your reply before sending: ${parts.join('; ')}. Replace ${missing.length + unknown.length > 1 ? 'them' : 'it'} with the right words.` : '';
}

const MAX_AGE_MS = 60000;

export class CannedPicker {
  // els: {root, button, search, list, count, close, composer}; context() gives the open
  // conversation's {queue, values} (or null); insert(text, result) puts the filled-in text
  // in the composer; say(text) announces.
  constructor(els, context, insert, say) {
    Object.assign(this, els);
    this.context = context;
    this.insert = insert;
    this.say = say;
    this.data = null;
    this.loadedAt = 0;
    this.slash = false;   // opened by typing / in the composer
    this.button.addEventListener('click', () => (this.root.hidden ? this.open('', true) : this.hide(true)));
    this.close.addEventListener('click', () => this.hide(true));
    this.search.addEventListener('input', () => this.render());
    this.search.addEventListener('keydown', e => this.searchKey(e));
    this.list.addEventListener('keydown', e => this.listKey(e));
    this.root.addEventListener('keydown', e => {
      if (e.key === 'Escape') { e.preventDefault(); this.hide(true); }
    });
  }

  // GET /api/canned, again when older than a minute (or forced).
  async load(force) {
    if (!force && this.data && Date.now() - this.loadedAt < MAX_AGE_MS) return this.data;
    try {
      const r = await fetch('/api/canned', { credentials: 'same-origin', cache: 'no-store' });
      if (!r.ok) throw new Error(`answered ${r.status}`);
      this.data = await r.json();
      this.loadedAt = Date.now();
    } catch (e) {
      if (!this.data) this.data = { council: '', queues: [], responses: [], error: String(e.message || e) };
    }
    return this.data;
  }

  council() { return (this.data && this.data.council) || ''; }
  queueName(q) {
    const x = ((this.data && this.data.queues) || []).find(y => String(y.id) === String(q) || y.slug === q);
    return x ? x.name : '';
  }

  // The responses for the open conversation's queue matching the words typed.
  matches(query) {
    const c = this.context();
    const words = String(query || '').toLowerCase().split(/\s+/).filter(Boolean);
    return ((this.data && this.data.responses) || [])
      .filter(r => r.active !== false && (r.queue == null || (c && String(r.queue) === String(c.queue))))
      .filter(r => words.every(w => `${r.shortcut || ''} ${r.title} ${r.body}`.toLowerCase().includes(w)))
      .sort((a, b) => (a.shortcut === words[0] ? -1 : 0) - (b.shortcut === words[0] ? -1 : 0) ||
        a.title.localeCompare(b.title));
  }

  async open(query, focusSearch) {
    this.slash = !focusSearch;
    this.root.hidden = false;
    this.button.setAttribute('aria-expanded', 'true');
    this.search.value = query;
    await this.load(false);
    this.render();
    if (focusSearch) this.search.focus();
  }

  hide(returnFocus) {
    if (this.root.hidden) return;
    this.root.hidden = true;
    this.slash = false;
    this.button.setAttribute('aria-expanded', 'false');
    if (returnFocus) this.composer.focus();
  }

  render() {
    const found = this.matches(this.search.value);
    this.list.replaceChildren(...found.map(r => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'canned-item';
      const t = document.createElement('span');
      t.className = 't';
      t.textContent = r.title + (r.shortcut ? ` (/${r.shortcut})` : '');
      const p = document.createElement('span');
      p.className = 'p';
      p.textContent = r.body;
      b.append(t, p);
      b.addEventListener('click', () => this.choose(r));
      li.append(b);
      return li;
    }));
    this.count.textContent = this.data && this.data.error ? `Canned responses could not be loaded (${this.data.error}).` :
      found.length === 0 ? 'No canned response matches.' :
        `${found.length} canned ${found.length === 1 ? 'response matches' : 'responses match'}.`;
    return found;
  }

  choose(r) {
    const c = this.context();
    if (!c) return;
    const result = expand(r.body, c.values);
    const slash = this.slash;
    this.hide(false);
    this.insert(result.text, result, slash);
    this.say(`Inserted “${r.title}” into your reply.` + (warning(result.missing, result.unknown) ? ' ' +
      warning(result.missing, result.unknown) : ''));
  }

  // The best match for what follows / in the composer, or null.
  best(query) {
    return this.matches(query)[0] || null;
  }

  buttons() { return [...this.list.querySelectorAll('button')]; }

  searchKey(e) {
    if (e.key === 'ArrowDown') {
      const b = this.buttons()[0];
      if (b) { e.preventDefault(); b.focus(); }
    } else if (e.key === 'Enter') {
      e.preventDefault();
      const r = this.best(this.search.value);
      if (r) this.choose(r);
      else this.say('No canned response matches.');
    }
  }

  listKey(e) {
    const bs = this.buttons();
    const i = bs.indexOf(document.activeElement);
    if (i < 0) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const j = i + (e.key === 'ArrowDown' ? 1 : -1);
      if (j < 0) this.search.focus();
      else bs[Math.min(j, bs.length - 1)].focus();
    } else if (e.key === 'Home' || e.key === 'End') {
      e.preventDefault();
      bs[e.key === 'Home' ? 0 : bs.length - 1].focus();
    }
  }
}
