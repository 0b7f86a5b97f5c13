// Wrap-up: the form in which the advisor chooses the reason and outcome of a conversation
// from its queue's codes (GET /api/queues/{id}/dispositions) and adds an optional note,
// then finishes it with conversation.wrap_up on the desk protocol (docs/routing-protocol.md):
// the disposition is stored, the conversation closes, and the advisor is free for the next.
// Errors are shown in text tied to their field. Every string from the network goes into
// the page with textContent.

import { $ } from './common.js';

export class WrapUp {
  // deps: {request(msg, handler), say(text), fieldError(input, errId, text),
  //        current() (the open conversation or null), done(conversation)}
  constructor(deps) {
    Object.assign(this, deps);
    this.codes = new Map();   // queue -> Promise of {reason, outcome} (null: not known)
    this.form = $('wrap-form');
    this.form.addEventListener('submit', e => this.submit(e));
    $('wrap-cancel').addEventListener('click', () => this.hide(true));
    $('wrap-btn').addEventListener('click', () => (this.form.hidden ? this.open() : this.hide(true)));
    this.form.addEventListener('keydown', e => {
      if (e.key === 'Escape') { e.preventDefault(); this.hide(true); }
    });
  }

  // The queue's active codes, asked once per queue (again after a failure).
  codesOf(queue) {
    if (!/^\d+$/.test(String(queue || ''))) return Promise.resolve(null);
    if (!this.codes.has(queue)) {
      const p = fetch(`/api/queues/${encodeURIComponent(queue)}/dispositions`,
        { credentials: 'same-origin', cache: 'no-store' })
        .then(r => (r.ok ? r.json() : null))
        .catch(() => null)
        .then(x => { if (!x) this.codes.delete(queue); return x; });
      this.codes.set(queue, p);
    }
    return this.codes.get(queue);
  }

  // Whether the queue has codes (then a plain close is not offered): true, false or null.
  async hasCodes(queue) {
    const x = await this.codesOf(queue);
    return x ? (x.reason.length + x.outcome.length) > 0 : null;
  }

  fill(select, list, none) {
    const first = document.createElement('option');
    first.value = '';
    first.textContent = none;
    select.replaceChildren(first, ...list.map(c => {
      const o = document.createElement('option');
      o.value = c.code;
      o.textContent = c.label;
      return o;
    }));
  }

  clearErrors() {
    $('wrap-error').hidden = true;
    this.fieldError($('w-reason'), 'w-reason-err', '');
    this.fieldError($('w-outcome'), 'w-outcome-err', '');
    this.fieldError($('w-note'), 'w-note-err', '');
  }

  async open() {
    const c = this.current();
    if (!c) return;
    this.conv = c.id;
    this.clearErrors();
    $('w-note').value = '';
    const x = (await this.codesOf(c.queue)) || { reason: [], outcome: [] };
    this.fill($('w-reason'), x.reason, 'Choose a reason');
    this.fill($('w-outcome'), x.outcome, 'Choose an outcome');
    $('w-reason-field').hidden = x.reason.length === 0;
    $('w-outcome-field').hidden = x.outcome.length === 0;
    $('wrap-intro').textContent = x.reason.length + x.outcome.length > 0
      ? 'Choose why the resident got in touch and how it ended. Finishing closes the conversation and frees you for the next one.'
      : 'This queue has no wrap-up codes. Add a note if you like; finishing closes the conversation and frees you for the next one.';
    this.form.hidden = false;
    $('wrap-btn').setAttribute('aria-expanded', 'true');
    $('wrap-h').focus();
  }

  hide(returnFocus) {
    if (this.form.hidden) return;
    this.form.hidden = true;
    $('wrap-btn').setAttribute('aria-expanded', 'false');
    if (returnFocus) $('wrap-btn').focus();
  }

  // The conversation shown changed: a form for another one is not left open.
  follow(c) {
    if (!this.form.hidden && (!c || c.id !== this.conv)) this.hide(false);
  }

  showError(field, text) {
    const ids = { reason: ['w-reason', 'w-reason-err'], outcome: ['w-outcome', 'w-outcome-err'], note: ['w-note', 'w-note-err'] };
    if (ids[field] && !$(ids[field][0]).closest('.field').hidden) {
      this.fieldError($(ids[field][0]), ids[field][1], text);
      $(ids[field][0]).focus();
    } else {
      $('wrap-error-text').textContent = text;
      $('wrap-error').hidden = false;
      $('wrap-h').focus();
    }
  }

  submit(ev) {
    ev.preventDefault();
    const c = this.current();
    if (!c || c.id !== this.conv) return;
    this.clearErrors();
    const reason = $('w-reason'), outcome = $('w-outcome'), note = $('w-note');
    const needReason = !$('w-reason-field').hidden && !reason.value;
    const needOutcome = !$('w-outcome-field').hidden && !outcome.value;
    if (needReason) this.fieldError(reason, 'w-reason-err', 'Choose a reason for the contact');
    if (needOutcome) this.fieldError(outcome, 'w-outcome-err', 'Choose an outcome');
    if (needReason || needOutcome) {
      (needReason ? reason : outcome).focus();
      return;
    }
    const msg = { type: 'conversation.wrap_up', conversation: c.id };
    if (reason.value) msg.reason = reason.value;
    if (outcome.value) msg.outcome = outcome.value;
    if (note.value.trim()) msg.note = note.value.trim();
    $('wrap-submit').disabled = true;
    this.request(msg, m => {
      $('wrap-submit').disabled = false;
      if (m.type === 'error') {
        const why = m.code === 'forbidden' ? 'This conversation is not yours any more, so you cannot wrap it up.'
          : m.code === 'offline' ? 'Not connected: try again when the connection is back.'
            : m.code === 'bad_message' && m.field ? `${m.field === 'reason' ? 'That reason' : 'That outcome'} is not one of this queue’s codes any more: choose another`
              : `The conversation was not wrapped up: ${m.message || m.code}.`;
        // The codes may have changed: ask again next time.
        if (m.field) this.codes.delete(c.queue);
        this.showError(m.field, why);
        return;
      }
      this.form.hidden = true;
      $('wrap-btn').setAttribute('aria-expanded', 'false');
      this.done(c);
    });
  }
}
