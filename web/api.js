// The dashboard's only door to vmsimd: Twirp JSON calls and the SSE event stream.
// Every RPC is POST /twirp/vmsim.v1.VmSim/<Method> with a proto3-JSON body; errors come back
// as Twirp JSON {code, msg, meta} and are raised as TwirpError so views can show them verbatim.

const PREFIX = '/twirp/vmsim.v1.VmSim/';
const TOKEN_KEY = 'vmsim.token';

export class TwirpError extends Error {
  constructor(code, msg, meta, method) {
    super(`${code}: ${msg}`);
    this.code = code;
    this.msg = msg;
    this.meta = meta || {};
    this.method = method;
  }
}

export function getToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(t) {
  try {
    if (t) localStorage.setItem(TOKEN_KEY, t);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* private mode: the token lives for this page only */
  }
}

function headers() {
  const h = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const t = getToken();
  if (t) h.Authorization = `Bearer ${t}`;
  return h;
}

// Methods the server answered with bad_route (not implemented on this server): views ask
// `has()` before offering features that depend on them (time travel, exercises, ...).
const missing = new Set();

export function has(method) {
  return !missing.has(method);
}

export async function call(method, body = {}) {
  let resp;
  try {
    resp = await fetch(PREFIX + method, {
      method: 'POST',
      headers: headers(),
      body: JSON.stringify(body),
    });
  } catch (e) {
    throw new TwirpError('unavailable', `cannot reach the server (${e.message})`, {}, method);
  }
  const text = await resp.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    /* not JSON: a proxy or a crashed server; report the HTTP status */
  }
  if (!resp.ok) {
    if (json && json.code) {
      if (json.code === 'bad_route') missing.add(method);
      throw new TwirpError(json.code, json.msg || '', json.meta, method);
    }
    throw new TwirpError('internal', `HTTP ${resp.status} ${text.slice(0, 200)}`, {}, method);
  }
  if (json === null) throw new TwirpError('internal', 'response is not JSON', {}, method);
  return json;
}

// Probes whether the server implements a method without side effects: an empty body to a
// missing method gives bad_route; anything else (even invalid_argument) means it exists.
export async function probe(method) {
  if (missing.has(method)) return false;
  try {
    await call(method, {});
    return true;
  } catch (e) {
    return e.code !== 'bad_route';
  }
}

// proto3 JSON: 64-bit integers arrive as strings (or numbers from lenient encoders).
export function n(v) {
  if (v === undefined || v === null || v === '') return 0;
  return typeof v === 'number' ? v : Number(v);
}

export function big(v) {
  if (v === undefined || v === null || v === '') return 0n;
  return BigInt(v);
}

export function hex(v, width = 0) {
  const s = big(v).toString(16);
  return '0x' + (width ? s.padStart(width, '0') : s);
}

// base64 `bytes` fields to a Uint8Array.
export function bytes(b64) {
  if (!b64) return new Uint8Array(0);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// Server-sent events over fetch (EventSource cannot send the Authorization header).
// Calls onEvent({id, event, data}) for each event; resumes after a drop with Last-Event-ID.
// Returns a function that closes the stream.
export function subscribe(machineId, onEvent, onState, fromId = '') {
  let closed = false;
  let lastId = fromId ? String(fromId) : '';
  let ctrl = null;
  let retry = 500;

  async function run() {
    while (!closed) {
      ctrl = new AbortController();
      const h = { Accept: 'text/event-stream' };
      const t = getToken();
      if (t) h.Authorization = `Bearer ${t}`;
      if (lastId) h['Last-Event-ID'] = lastId;
      try {
        const resp = await fetch(`/v1/machines/${encodeURIComponent(machineId)}/events`, {
          headers: h,
          signal: ctrl.signal,
        });
        if (!resp.ok) {
          let msg = `HTTP ${resp.status}`;
          try {
            const j = await resp.json();
            if (j.msg) msg = `${j.code}: ${j.msg}`;
          } catch {
            /* keep the status */
          }
          onState && onState('error', msg);
          if (resp.status === 404 || resp.status === 401 || resp.status === 403) return;
        } else {
          onState && onState('open');
          retry = 500;
          await readStream(resp.body, (ev) => {
            if (ev.id) lastId = ev.id;
            onEvent(ev);
          });
        }
      } catch (e) {
        if (closed) return;
        onState && onState('error', e.message);
      }
      if (closed) return;
      onState && onState('reconnecting');
      await new Promise((r) => setTimeout(r, retry));
      retry = Math.min(retry * 2, 8000);
    }
  }

  run();
  return () => {
    closed = true;
    if (ctrl) ctrl.abort();
  };
}

// The text/event-stream format (HTML standard 9.2.6): fields per line, blank line ends one.
async function readStream(body, emit) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let ev = { id: '', event: 'message', data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
      if (line === '') {
        if (ev.data.length) emit({ id: ev.id, event: ev.event, data: ev.data.join('\n') });
        ev = { id: '', event: 'message', data: [] };
        continue;
      }
      if (line[0] === ':') continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      let val = c < 0 ? '' : line.slice(c + 1);
      if (val[0] === ' ') val = val.slice(1);
      if (field === 'data') ev.data.push(val);
      else if (field === 'id') ev.id = val;
      else if (field === 'event') ev.event = val;
    }
  }
}
