/* Switchboard web chat widget: the one file a council page embeds.
 * A small classic script: it reads its own data-* options, defines the only
 * global (window.SwitchboardChat, with open() and close()) and imports the
 * widget's ES modules from beside its own URL. Calls made before the modules
 * arrive are queued and replayed. */
(function () {
  var s = document.currentScript, q = [];
  if (!s || window.SwitchboardChat) return;
  var api = window.SwitchboardChat = {
    open: function () { q.push('open'); },
    close: function () { q.push('close'); }
  };
  import(new URL('chat.js', s.src).href).then(function (m) {
    m.mount(s, api, q);
  }, function (e) {
    if (window.console) console.error('Switchboard chat failed to load', e);
  });
})();
