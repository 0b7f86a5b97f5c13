// Switchboard advisor desk: the DOM helpers desk.js and record.js share. el() puts its
// text in with textContent, never as HTML: it is how network strings reach the page.
export const $ = id => document.getElementById(id);
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = String(text);
  return e;
}

// An error in text under a field, tied to it (aria-invalid, aria-describedby), or none when
// text is empty. True when there is no error.
export function fieldError(input, errId, text) {
  const e = $(errId);
  e.textContent = text || '';
  e.hidden = !text;
  if (text) {
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', errId);
  } else {
    input.removeAttribute('aria-invalid');
    input.removeAttribute('aria-describedby');
  }
  return !text;
}
