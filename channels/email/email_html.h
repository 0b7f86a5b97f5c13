/*
 * email_html.h: the HTML of a mail body (email_mime.h), read with a small
 * tokenizer of our own (no DOM): turned into plain text, or kept after an
 * allow-list sanitiser. Pure, any thread. Input is UTF-8 (the charset
 * already converted); outputs are malloc'd, valid UTF-8, never NULL.
 *
 * Dropped with everything inside (to the end when never closed): script, style,
 * head, title, iframe, object, applet, svg, math, noscript, template, textarea,
 * select, and comments, doctypes and processing instructions.
 */
#ifndef EMAIL_HTML_H
#define EMAIL_HTML_H

#include <stddef.h>

/*
 * The text a reader sees: block elements and <br> as line breaks (at
 * most one blank line in a row), list items as "- ", entities decoded,
 * other whitespace collapsed to one space (kept as it is inside <pre>),
 * lines trimmed at the end.
 */
char *email_html_to_text(const char *html, size_t n);

/*
 * HTML safe to insert into a page: only p, br, div, span, b, strong, i,
 * em, u, ul, ol, li, table, thead, tbody, tfoot, tr, td, th, caption,
 * blockquote, pre, code, h1-h6, hr, and a (with href only, and only when
 * it is http:, https: or mailto:), all without any other attribute;
 * other tags are removed (their text kept); text and the href escaped
 * (& < > " '); every element closed in order, stray closing tags dropped,
 * nesting deeper than EMAIL_HTML_DEPTH_MAX dropped.
 */
#define EMAIL_HTML_DEPTH_MAX 100
char *email_html_sanitise(const char *html, size_t n);

#endif
