/* Switchboard web chat widget: the one file a council page embeds.
 * A small classic script: it reads its own data-* options, defines the only
 * global (window.SwitchboardChat, with open() and close()) and imports the
 * widget's ES modules from beside its own URL. Calls made before the modules
 * arrive are queued and replayed.
 * Everything the widget needs is asked for here, at once: its modules
 * (modulepreload, so the imports do not wait for each other), its
 * stylesheet and the deployment's topics (topics.json). The page then
 * costs one round trip after this script, not one per level of imports.
 * A new module of the widget goes in FILES too. */
(function () {
  var s = document.currentScript, q = [];
  if (!s || window.SwitchboardChat) return;
  var FILES = ['chat.js', 'conn.js', 'dom.js', 'strings.js'];
  var head = document.head || document.documentElement;
  var at = function (f) { return new URL(f, s.src).href; };
  var api = window.SwitchboardChat = {
    open: function () { q.push('open'); },
    close: function () { q.push('close'); }
  };
  var link = function (rel, href, as) {
    var l = document.createElement('link');
    l.rel = rel;
    l.href = href;
    if (as) l.as = as;
    head.appendChild(l);
  };
  FILES.forEach(function (f) { link('modulepreload', at(f)); });
  link('preload', at('widget.css'), 'style');
  // The topics: public, no cookie; null when they cannot be had.
  var topics = function () {
    return fetch(at('topics.json'), { credentials: 'omit' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; });
  };
  var first = topics();
  import(at('chat.js')).then(function (m) {
    m.mount(s, api, q, first, topics);
  }, function (e) {
    if (window.console) console.error('Switchboard chat failed to load', e);
  });
})();
