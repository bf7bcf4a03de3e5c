// The dashboard: machine list, one machine's views, live events over SSE, time travel.
// State flows one way: an op or an SSE event marks the machine dirty, one refresh reads a
// consistent snapshot (all views at the same seq) and every visible view redraws from it.

import { call, subscribe, getToken, setToken, n, has } from './api.js';
import { parseNumber, opInfo } from './ops.js';
import { FrameMap, categoryColour } from './framemap.js';
import { mountSideForms, mountTrace, feed } from './drive.js';
import { updateBuddy, updateSlab, updateVmalloc, updateProcs, updateReclaim, animateChain, renderWalk, renderSplit } from './views.js';
import { mountExercises, updateExercises } from './exercises.js';
import { TimeTravel } from './timetravel.js';
import { $, $$, esc, kib, toast } from './ui.js';

const app = {
  machines: [],
  current: null, // Machine message of the selected machine
  tab: 'memory',
  events: [], // recent events of the current machine
  history: {}, // machine id -> [{seq, c: {counter: value}}]
  procState: { pid: null },
  stopSSE: null,
  dirty: false,
  refreshing: null,
  lastChain: null,
};
window.vmsim = app; // for the browser tests and the curious
app.categoryColour = categoryColour;

// ---------------------------------------------------------------------------------------------
// A snapshot: every query the views make during one refresh, memoized, at one point in time.

class Snapshot {
  constructor(machine, at) {
    this.machine = machine;
    this.id = machine.id;
    this.at = at; // null = live; else a seq (time travel)
    this.memo = new Map();
  }

  q(method, body) {
    const key = method + JSON.stringify(body);
    if (!this.memo.has(key)) {
      const req = { machineId: this.id, ...body };
      this.memo.set(key, (this.at === null ? call(method, req) : timeTravel.query(method, req, this.at)));
    }
    return this.memo.get(key);
  }

  // {text} or {err}: views show what exists and say what does not.
  async proc(path) {
    try {
      const r = await this.q('Proc', { path });
      return { text: r.text ?? '' };
    } catch (err) {
      return { text: null, err };
    }
  }

  frameMap() { return this.q('FrameMap', {}); }

  async counters() {
    try { return await this.q('Counters', {}); } catch { return {}; }
  }

  // The live tasks: pids probed through /proc/<pid>/status (exited pids leave gaps).
  async pids() {
    if (!this.memo.has('pids')) {
      this.memo.set('pids', (async () => {
        const out = [];
        let misses = 0;
        for (let base = 1; base < 512 && misses < 8; base += 8) {
          const batch = await Promise.all([...Array(8)].map((_, i) => this.proc(`${base + i}/status`).then((r) => [base + i, r])));
          for (const [pid, r] of batch) {
            if (r.text) {
              misses = 0;
              const m = /^Name:\s*(\S+)/m.exec(r.text);
              out.push({ pid, comm: m ? m[1] : '' });
            } else {
              misses++;
            }
          }
        }
        return out;
      })());
    }
    return this.memo.get('pids');
  }
}

const timeTravel = new TimeTravel({
  onChange: () => refresh(),
  current: () => app.current,
});

// ---------------------------------------------------------------------------------------------
// Machines

async function loadMachines(selectId) {
  try {
    const r = await call('ListMachines', {});
    app.machines = r.machines || [];
    setConn('ok');
  } catch (err) {
    app.machines = [];
    setConn('error', err);
    if (err.code !== 'unavailable') toast(err);
  }
  renderMachineList();
  // on a phone the create form would push the machine below the fold
  if (app.machines.length && window.matchMedia('(max-width: 760px)').matches) $('#create').open = false;
  const want = selectId || (app.current && app.current.id) || location.hash.slice(1);
  const m = app.machines.find((x) => x.id === want);
  if (m) await selectMachine(m.id);
  else if (!app.machines.length || (app.current && !m)) showMachine(null);
}

function setConn(state, err) {
  const el = $('#conn');
  el.className = `conn ${state}`;
  el.textContent = state === 'ok' ? 'connected' : err ? `${err.code}: ${err.msg}` : state;
}

function renderMachineList() {
  const ul = $('#machine-list');
  if (!app.machines.length) {
    ul.innerHTML = '<li class="muted">no machines yet</li>';
    return;
  }
  ul.innerHTML = app.machines.map((m) => {
    const c = m.config || {};
    const cur = app.current && app.current.id === m.id;
    return `<li><button type="button" class="mbtn${cur ? ' current' : ''}" data-id="${esc(m.id)}" aria-current="${cur}">
      <b>${esc(m.name || m.id)}</b> <span class="muted">${esc(m.id)}</span><br>
      <span class="muted small">${c.arch === 'ARCH_I386' ? 'i386' : 'x86_64'} · ${kib(n(c.ramBytes) / 1024)} · seq ${n(m.seq)}</span></button></li>`;
  }).join('');
}

async function selectMachine(id) {
  try {
    const m = await call('GetMachine', { machineId: id });
    if (!app.current || app.current.id !== id) {
      app.events = [];
      app.procState = { pid: null };
      $('#events').innerHTML = '';
      timeTravel.reset();
      trace.reset();
      startEvents(id);
    }
    app.current = m;
    location.hash = id;
    showMachine(m);
    renderMachineList();
    await refresh();
  } catch (err) {
    toast(err);
  }
}

function showMachine(m) {
  $('#empty').hidden = !!m;
  $('#machine').hidden = !m;
  if (!m) {
    app.current = null;
    if (app.stopSSE) app.stopSSE();
    app.stopSSE = null;
    return;
  }
  const c = m.config || {};
  $('#m-name').textContent = m.name || m.id;
  $('#m-desc').textContent = `${m.id} · ${c.arch === 'ARCH_I386' ? 'i386' : 'x86_64'} · ${kib(n(c.ramBytes) / 1024)} RAM · ${(c.policy || 'POLICY_LINUX').replace('POLICY_', '').toLowerCase()} reclaim`;
}

// In the past the per-frame picture is not available: the map is dimmed and a summary of the
// frames by owner at that point (the server's frames_* counters) is laid over it.
async function showPast(snap) {
  const box = $('#fm-past');
  if (snap.at === null) {
    box.hidden = true;
    $('#framemap').classList.remove('past');
    return;
  }
  const c = await snap.counters();
  const cm = Object.fromEntries((c.counters || []).map((x) => [x.name, n(x.value)]));
  const owners = Object.keys(cm).filter((k) => k.startsWith('frames_') && cm[k]);
  box.innerHTML = `<p><b>History ${snap.at}</b> (op seq ${timeTravel.pastOpSeq ?? '?'}): the frame-by-frame picture shows the present;
    at this point the machine's frames were:</p><ul class="past-owners">${owners.map((k) => `<li data-owner="${esc(k.slice(7))}"><b>${cm[k]}</b> ${esc(k.slice(7))}</li>`).join('')}</ul>`;
  box.hidden = false;
  $('#framemap').classList.add('past');
}

function renderStats(m, fm, snap) {
  const past = snap && snap.at !== null;
  const stats = [
    ['seq', past ? timeTravel.pastOpSeq ?? '' : n(fm && fm.seq !== undefined ? fm.seq : m.seq)],
    ['frames', n(m.nrFrames)],
    ['free pages', past ? '' : fm ? (fm.zones || []).reduce((a, z) => a + n(z.freePages), 0) : n(m.freePages)],
    ['events', Math.max(0, n(m.nextEventId) - 1)],
  ];
  $('#m-stats').innerHTML = stats.map(([k, v]) => `<div><dt>${k}</dt><dd data-stat="${k}">${v}</dd></div>`).join('');
}

function readCreateForm() {
  const f = new FormData($('#create-form'));
  const config = {
    arch: f.get('arch'),
    ramBytes: parseNumber(f.get('ram'), 'u64', 'RAM'),
    policy: f.get('policy'),
    tlbEntries: parseNumber(f.get('tlbEntries') || '0', 'u32', 'TLB entries'),
    swappiness: parseNumber(f.get('swappiness') || '60', 'u32', 'swappiness'),
    seed: parseNumber(f.get('seed') || '0', 'u64', 'seed'),
  };
  return { name: f.get('name'), config };
}

// ---------------------------------------------------------------------------------------------
// Ops

async function runOp(name, body) {
  if (!app.current) return null;
  if (timeTravel.at !== null) {
    toast(new Error('You are looking at the past: press Live before running an operation.'));
    return null;
  }
  const method = opInfo(name).method;
  const out = $('#result');
  try {
    const r = await call(method, { machineId: app.current.id, ...body });
    const val = r.value !== undefined ? BigInt(r.value) : 0n;
    out.innerHTML = `<div class="res ok" data-op="${esc(name)}" data-value="${esc(r.value ?? '0')}"><b>${esc(name)}</b> → seq ${esc(r.seq ?? '')}`
      + `${r.value !== undefined ? ` · value <code>${val > 4096n ? '0x' + val.toString(16) : val}</code>` : ''}`
      + `${r.fault && r.fault !== 'FAULT_NONE' ? ` · <b>${esc(r.fault)}</b>` : ''}`
      + `${r.faults ? ` · ${r.faults} faults (${r.major || 0} major)` : ''}`
      + `${(r.events || []).length ? `<ol class="res-events">${r.events.map((t) => `<li>${esc(t)}</li>`).join('')}</ol>` : ''}</div>`;
    feed(name, r, body);
    if (['alloc_pages', 'free_pages'].includes(name)) app.lastChain = r.events || [];
    if (name === 'access') renderWalk(r, app.current.config?.arch);
    markDirty(true);
    return r;
  } catch (err) {
    // meta.seq: it failed partway, and what it did (kswapd, reclaim, a grown slab) stays
    const kept = err.meta && err.meta.seq
      ? ` · <span class="partway" data-seq="${esc(err.meta.seq)}">failed partway: what it did stays, as seq ${esc(err.meta.seq)} (see Events)</span>` : '';
    out.innerHTML = `<div class="res err" data-code="${esc(err.code || '')}"><b>${esc(name)} failed</b> — ${esc(err.code ? `${err.code}: ${err.msg}` : err.message)}${kept}</div>`;
    toast(err);
    markDirty(true);
    return null;
  }
}

const ctx = { runOp, toast };

// ---------------------------------------------------------------------------------------------
// Refresh

function markDirty(now) {
  app.dirty = true;
  if (now) refresh();
  else setTimeout(() => app.dirty && refresh(), 120);
}

let frameMap;

async function refresh() {
  if (!app.current) return;
  if (app.refreshing) {
    app.dirty = true;
    return app.refreshing;
  }
  app.dirty = false;
  app.refreshing = (async () => {
    try {
      const live = timeTravel.at === null;
      if (live) {
        app.current = await call('GetMachine', { machineId: app.current.id });
        const i = app.machines.findIndex((x) => x.id === app.current.id);
        if (i >= 0 && n(app.machines[i].seq) !== n(app.current.seq)) {
          app.machines[i] = app.current;
          renderMachineList();
        }
      }
      const snap = new Snapshot(app.current, timeTravel.at);
      let fm = null;
      try {
        fm = await snap.frameMap();
      } catch (err) {
        if (live) throw err;
      }
      if (fm) frameMap.setData(fm, app.current.id);
      await timeTravel.update(app.current);
      await showPast(snap);
      renderStats(app.current, fm, snap);
      if (live) recordHistory(snap);
      await updateTab(snap);
      if (app.lastChain && live) {
        animateChain(app.lastChain, frameMap);
        app.lastChain = null;
      }
      document.body.dataset.seq = String(live ? n(fm.seq) : timeTravel.pastOpSeq ?? '');
      document.body.dataset.at = live ? 'live' : String(timeTravel.at);
    } catch (err) {
      if (err.code === 'not_found') {
        toast(err);
        app.current = null;
        await loadMachines();
      } else {
        toast(err);
      }
    } finally {
      app.refreshing = null;
    }
    if (app.dirty) await refresh();
  })();
  return app.refreshing;
}

async function recordHistory(snap) {
  const c = await snap.counters();
  if (!c.counters) return;
  const h = (app.history[snap.id] ||= []);
  const seq = n(c.seq);
  if (h.length && h[h.length - 1].seq === seq) return;
  h.push({ seq, c: Object.fromEntries(c.counters.map((x) => [x.name, n(x.value)])) });
  if (h.length > 300) h.shift();
}

async function updateTab(snap) {
  switch (app.tab) {
    case 'buddy': return updateBuddy(snap);
    case 'slab': return updateSlab(snap);
    case 'vmalloc': return updateVmalloc(snap);
    case 'procs': return updateProcs(snap, app.procState);
    case 'reclaim':
      await recordHistory(snap);
      return updateReclaim(snap, app.history[snap.id] || [], app.events.filter((e) => /oom|out of memory|killed process/i.test(e.text)));
    case 'exercises': return updateExercises(snap);
    default: return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Events: backfill with the Events RPC, then follow the SSE stream.

const EV_BLOCKS = ['boot', 'buddy', 'slab', 'vmalloc', 'task', 'mmap', 'fault', 'file', 'swap', 'reclaim', 'driver', 'hugetlb'];

function eventClass(type) {
  return EV_BLOCKS[(type >> 8) & 0xff] || 'other';
}

async function startEvents(id) {
  if (app.stopSSE) app.stopSSE();
  app.stopSSE = null;
  let from = '';
  try {
    const r = await call('Events', { machineId: id, afterId: '0', limit: 1000 });
    addEvents(r.events || []);
    // resume the stream right after the last event we have: nothing falls between
    from = n(r.nextId) > 1 ? String(n(r.nextId) - 1) : '';
  } catch (err) {
    $('#ev-state').textContent = `${err.code}: ${err.msg}`;
  }
  if (!app.current || app.current.id !== id) return;
  app.stopSSE = subscribe(id, (ev) => {
    let e = null;
    try {
      e = JSON.parse(ev.data);
    } catch {
      e = { id: ev.id, text: ev.data, type: 0, seq: 0 };
    }
    if (ev.event === 'reset') {
      app.events = [];
      $('#events').innerHTML = '';
      markDirty(false);
      return;
    }
    if (ev.event === 'deleted') {
      toast(new Error(`machine ${id} was deleted`), 'info');
      loadMachines();
      return;
    }
    if (ev.event === 'gap') {
      const li = document.createElement('li');
      li.className = 'ev gap';
      li.textContent = `… ${n(e.lost)} events left the ring before they could be sent`;
      $('#events').appendChild(li);
      return;
    }
    addEvents([e]);
    if (timeTravel.at === null) markDirty(false);
  }, (state, msg) => {
    const el = $('#ev-state');
    el.textContent = state === 'open' ? 'live (SSE)' : state === 'reconnecting' ? 'reconnecting…' : `SSE: ${msg || state}`;
    el.dataset.state = state;
  }, from);
}

function addEvents(list) {
  const ol = $('#events');
  const lastId = app.events.length ? n(app.events[app.events.length - 1].id) : 0;
  const fresh = list.filter((e) => e && e.text !== undefined && n(e.id) > lastId);
  if (!fresh.length) return;
  const filter = $('#ev-filter').value.toLowerCase();
  const frag = document.createDocumentFragment();
  let prevSeq = app.events.length ? n(app.events[app.events.length - 1].seq) : -1;
  for (const e of fresh) {
    const li = document.createElement('li');
    const seq = n(e.seq);
    li.className = `ev ${eventClass(n(e.type))}${seq !== prevSeq ? ' newop' : ''}`;
    li.dataset.id = String(n(e.id));
    li.dataset.seq = String(seq);
    li.innerHTML = `<span class="eid">#${n(e.id)}</span><span class="eseq">${eventClass(n(e.type)) === 'boot' && n(e.type) < 4 ? 'boot' : `op ${seq}`}</span><span class="etag">${eventClass(n(e.type))}</span><span class="etext">${esc(e.text)}</span>`;
    if (filter && !e.text.toLowerCase().includes(filter)) li.hidden = true;
    frag.appendChild(li);
    prevSeq = seq;
  }
  app.events.push(...fresh);
  ol.appendChild(frag);
  while (ol.children.length > 3000) ol.firstChild.remove();
  if (app.events.length > 3000) app.events.splice(0, app.events.length - 3000);
  if ($('#ev-follow').checked && app.tab === 'events') ol.lastElementChild?.scrollIntoView({ block: 'end' });
  $('#tab-events').dataset.count = String(app.events.length);
}

// ---------------------------------------------------------------------------------------------
// Tabs (WAI-ARIA tabs: arrow keys move, Home/End jump)

function selectTab(name, focus) {
  app.tab = name;
  for (const t of $$('[role=tab]')) {
    const on = t.id === `tab-${name}`;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    if (on && focus) t.focus();
  }
  for (const p of $$('[role=tabpanel]')) p.hidden = p.id !== `panel-${name}`;
  if (name === 'memory') frameMap.layout(true);
  refresh();
}

function mountTabs() {
  const tabs = $$('[role=tab]');
  tabs.forEach((t, i) => {
    t.addEventListener('click', () => selectTab(t.id.slice(4)));
    t.addEventListener('keydown', (e) => {
      const j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (j === undefined) return;
      e.preventDefault();
      selectTab(tabs[(j + tabs.length) % tabs.length].id.slice(4), true);
    });
  });
}

// ---------------------------------------------------------------------------------------------

let trace;

function init() {
  frameMap = new FrameMap($('#framemap'));
  app.frameMap = frameMap;
  mountTabs();
  mountSideForms(ctx);
  trace = mountTrace(ctx);
  mountExercises(ctx);

  $('#token').value = getToken();
  $('#token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    setToken($('#token').value.trim());
    toast(new Error('token saved'), 'info');
    loadMachines();
  });

  $('#create-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    let req;
    try {
      req = readCreateForm();
    } catch (err) {
      toast(err);
      return;
    }
    try {
      const m = await call('CreateMachine', req);
      await loadMachines(m.id);
    } catch (err) {
      toast(err);
    }
  });

  $('#machine-list').addEventListener('click', (e) => {
    const b = e.target.closest('.mbtn');
    if (b) selectMachine(b.dataset.id);
  });

  $('#m-reset').addEventListener('click', async () => {
    if (!app.current || !confirm(`Reset ${app.current.name || app.current.id}? It reboots with the same config.`)) return;
    try {
      await call('ResetMachine', { machineId: app.current.id });
      app.events = [];
      $('#events').innerHTML = '';
      app.history[app.current.id] = [];
      timeTravel.reset();
      trace.reset();
      startEvents(app.current.id);
      await loadMachines(app.current.id);
    } catch (err) {
      toast(err);
    }
  });

  $('#m-delete').addEventListener('click', async () => {
    if (!app.current || !confirm(`Delete ${app.current.name || app.current.id} and everything in it?`)) return;
    try {
      await call('DeleteMachine', { machineId: app.current.id });
      showMachine(null);
      location.hash = '';
      await loadMachines();
    } catch (err) {
      toast(err);
    }
  });

  $('#ev-filter').addEventListener('input', () => {
    const f = $('#ev-filter').value.toLowerCase();
    for (const li of $('#events').children) li.hidden = !!f && !li.textContent.toLowerCase().includes(f);
  });

  $('#pid-select').addEventListener('change', () => {
    app.procState.pid = { pid: Number($('#pid-select').value) };
    refresh();
  });
  const showSplit = () => {
    try { renderSplit(parseNumber($('#walk-form [name=addr]').value, 'u64', 'address'), app.current?.config?.arch); } catch { $('#addr-split').innerHTML = ''; }
  };
  const pickAddr = (e) => {
    const b = e.target.closest('[data-addr]');
    if (!b) return;
    $('#walk-form [name=addr]').value = b.dataset.addr;
    $('#walk-form [name=addr]').focus();
    showSplit();
  };
  $('#walk-form [name=addr]').addEventListener('input', showSplit);
  $('#as-bar').addEventListener('click', pickAddr);
  $('#maps-table').addEventListener('click', pickAddr);
  $('#walk-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const pid = app.procState.pid && app.procState.pid.pid;
    if (!pid) { toast(new Error('spawn a process first')); return; }
    let addr;
    try { addr = parseNumber(f.get('addr'), 'u64', 'address'); } catch (err) { toast(err); return; }
    await runOp('access', { pid, addr, kind: f.get('kind') });
  });

  window.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') $$('.toast').forEach((t) => t.remove());
  });

  loadMachines();
}

export { has };
init();
