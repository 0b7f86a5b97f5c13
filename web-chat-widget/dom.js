// Small DOM helpers. Every string from the server or the resident goes in
// through textContent or a text node: nothing here ever parses HTML.

// h('p', {class: 'x', text: 'y', onclick: f}, child, ...): an element.
export function h(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const k in props || {}) {
    const v = props[k];
    if (v == null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat()) if (c != null && c !== false) e.append(c);
  return e;
}

const URL_RE = /\bhttps?:\/\/[^\s<>"]+/gi;

// Advisor text with its http(s) links made clickable; anything else stays text.
export function linkify(text, newTab) {
  const f = document.createDocumentFragment();
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    const raw = m[0].replace(/[.,;:!?)\]'"]+$/, '');
    let url;
    try { url = new URL(raw); } catch { continue; }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    f.append(text.slice(last, m.index),
      h('a', { href: url.href, rel: 'noopener noreferrer', target: '_blank' },
        raw, h('span', { class: 'vh', text: newTab })));
    last = m.index + raw.length;
  }
  f.append(text.slice(last));
  return f;
}

// A string table entry with each name written in curly braces replaced by
// its value from v (an unknown name becomes empty).
export const fmt = (s, v) => String(s).replace(/\{(\w+)\}/g, (_, k) => v[k] ?? '');
