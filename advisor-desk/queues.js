// The queues by name (GET /api/queues: id, slug, name, active, serves, channels), asked
// when the desk opens and again after each desk.ready (a change of queues closes the
// desk, 4005). Offers, the conversation list, the conversation view, transfer targets and
// the queue view name queues with it; until it is loaded (or when it could not be) a
// queue is "queue 12".
import { api } from './common.js';

let byId = new Map();

// Loads the list; false when it could not be loaded (the old one, if any, is kept).
export async function load() {
  const r = await api('GET', '/api/queues');
  if (r.status !== 200 || !Array.isArray(r.body)) return false;
  byId = new Map(r.body.map(q => [String(q.id), q]));
  return true;
}

export function reset() {
  byId = new Map();
}

// The queue's name: "Council Tax"; "queue 12" when it is not known.
export function queueName(id) {
  const q = byId.get(String(id));
  if (q) return q.name;
  return id == null || id === '' ? 'an unknown queue' : `queue ${id}`;
}

// Every queue known, by name: [{id, slug, name, active, serves, channels}].
export function all() {
  return [...byId.values()];
}
