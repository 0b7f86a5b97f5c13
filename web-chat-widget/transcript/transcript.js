// The page a transcript confirmation email links to (docs/chat-protocol.md, "Mail the
// resident can cause"): it confirms the address with GET /api/chat/transcript?token=…,
// after which the daemon queues the transcript, and says what happened. Nothing the
// resident wrote is ever shown here or sent with the answer (the reference only).
const TEXT = {
  queued: ref => `Thank you. Your address is confirmed: the transcript of chat ${ref} will be emailed to you shortly.`,
  used: ref => `This link has been used already: the transcript of chat ${ref} was sent to this address.`,
  expired: () => 'This link has expired. Ask for the transcript again at the end of a chat.',
  unknown: () => 'This link is not valid. Check that you opened the whole link from the email.',
  bad_request: () => 'This link is not complete. Check that you opened the whole link from the email.'
};
async function confirm() {
  const state = document.getElementById('t-state');
  const token = new URLSearchParams(location.search).get('token') || '';
  let text = TEXT.bad_request();
  if (token) {
    try {
      const r = await fetch(`/api/chat/transcript?token=${encodeURIComponent(token)}`,
        { credentials: 'omit', cache: 'no-store' });
      const body = await r.json().catch(() => ({}));
      const f = TEXT[body.status];
      text = f ? f(body.reference || '') : 'The address could not be confirmed just now. Try the link again later.';
    } catch {
      text = 'The council cannot be reached just now. Try the link again later.';
    }
  }
  state.textContent = text;
  document.getElementById('t-h').focus();
}
confirm();
