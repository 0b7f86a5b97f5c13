// Switchboard advisor desk: the two DOM helpers desk.js and record.js share. el() puts
// its text in with textContent, never as HTML: it is how network strings reach the page.
export const $ = id => document.getElementById(id);
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = String(text);
  return e;
}
