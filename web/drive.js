// Driving a machine: a form for every op (built from ops.js) and the trace editor with
// step / run / pause. Results fill in the obvious next inputs (the pfn alloc_pages returned goes
// into free_pages, a new pid into every pid field), so a student can click through a scenario.

import { GROUPS, OPS, opInfo, buildRequest, parseTraceLine } from './ops.js';
import { $, esc } from './ui.js';

// Which result value feeds which later input.
const FEEDS = {
  alloc_pages: (r, body) => ({ pfn: r.value, order: String(body.order) }),
  kmalloc: (r) => ({ 'kfree.addr': r.value }),
  kmem_cache_alloc: (r) => ({ 'kmem_cache_free.addr': r.value }),
  vmalloc: (r) => ({ 'vfree.addr': r.value }),
  spawn: (r) => ({ pid: r.value }),
  fork: (r) => ({ pid: r.value }),
  vfork: (r) => ({ pid: r.value }),
  clone: (r) => ({ pid: r.value }),
  mmap: (r) => ({ addr: r.value, 'mmap.addr': '0' }),
  file_create: (r) => ({ ino: r.value }),
};

function fmtValue(v) {
  const b = BigInt(v || 0);
  return b > 4096n ? '0x' + b.toString(16) : b.toString();
}

export function feed(name, result, body) {
  const f = FEEDS[name];
  if (!f || result.value === undefined) return;
  const vals = f(result, body);
  for (const [key, v] of Object.entries(vals)) {
    const [op, field] = key.includes('.') ? key.split('.') : [null, key];
    for (const input of document.querySelectorAll(`form.opform${op ? `[data-op="${op}"]` : ''} [name="${field}"]`)) {
      if (!op && input.closest('form').dataset.op === name) continue;
      input.value = field === 'order' || field === 'pid' || field === 'ino' ? String(v) : fmtValue(v);
    }
  }
}

export function opForm(name, ctx, open = false) {
  const info = opInfo(name);
  const d = document.createElement('details');
  d.className = 'opbox';
  d.open = open;
  const fields = info.fields.map((f) => {
    const id = `f-${name}-${f.name}-${Math.random().toString(36).slice(2, 7)}`;
    let input;
    if (Array.isArray(f.kind)) {
      input = `<select id="${id}" name="${f.name}">${f.kind.map((e) => `<option${e === f.def ? ' selected' : ''}>${e}</option>`).join('')}</select>`;
    } else {
      input = `<input id="${id}" name="${f.name}" value="${esc(f.def)}" spellcheck="false"${f.kind === 'str' ? '' : ' inputmode="text"'}>`;
    }
    return `<label for="${id}">${esc(f.name)}${f.help ? ` <span class="hint">${esc(f.help)}</span>` : ''}</label>${input}`;
  }).join('');
  d.innerHTML = `<summary><code>${esc(name)}</code> <span class="hint">${esc(info.help)}</span></summary>`
    + `<form class="opform" data-op="${name}">${fields}<button type="submit" class="primary">${esc(name)}</button></form>`;
  const form = $('form', d);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const values = Object.fromEntries(new FormData(form).entries());
    let req;
    try {
      req = buildRequest(name, values);
    } catch (err) {
      ctx.toast(err);
      return;
    }
    const btn = $('button[type=submit]', form);
    btn.disabled = true;
    try {
      await ctx.runOp(name, req.body);
    } finally {
      btn.disabled = false;
    }
  });
  return d;
}

export function mountSideForms(ctx) {
  for (const side of document.querySelectorAll('.side[data-ops]')) {
    side.innerHTML = '<h3>Drive it</h3>';
    side.dataset.ops.split(' ').forEach((name, i) => side.appendChild(opForm(name, ctx, i === 0)));
  }
  const all = $('#drive-forms');
  for (const [group, names] of GROUPS) {
    const g = document.createElement('div');
    g.className = 'opgroup';
    g.innerHTML = `<h4>${esc(group)}</h4>`;
    names.forEach((name) => g.appendChild(opForm(name, ctx)));
    all.appendChild(g);
  }
}

const EXAMPLE = `# The buddy allocator splits blocks and merges buddies back
alloc_pages order=0
alloc_pages order=3
alloc_pages order=0
free_pages pfn=PFN1 order=0
free_pages pfn=PFN2 order=3
# kmalloc takes objects from the kmalloc-N slab caches
kmalloc size=100
kmalloc size=3000
kfree addr=ADDR1
# files go through the page cache; writes dirty pages
file_create name=/data/f1 size=1M
file_read ino=INO1 offset=0 len=256K
file_write ino=INO1 offset=0 len=64K
# a swap file: create it, mkswap, swapon
file_create name=/swapfile size=8M
mkswap name=/swapfile
swapon name=/swapfile
`;

export function mountTrace(ctx) {
  const ta = $('#trace');
  const gutter = $('#trace-lines');
  const state = $('#tr-state');
  const btnStep = $('#tr-step'), btnRun = $('#tr-run'), btnPause = $('#tr-pause');
  let pc = 0; // index of the next line to run
  let running = false;
  let vars = {}; // PFN1, PID1 ...: values earlier lines returned, usable in later lines

  ta.value = localStorage.getItem('vmsim.trace') || EXAMPLE;
  const lines = () => ta.value.split('\n');

  function paint(errLine = -1) {
    const ls = lines();
    gutter.innerHTML = ls.map((_, i) => `<li class="${i === pc ? 'pc' : ''}${i < pc ? ' done' : ''}${i === errLine ? ' err' : ''}">${i + 1}</li>`).join('');
    gutter.scrollTop = ta.scrollTop;
    ta.dataset.pc = String(pc);
  }
  ta.addEventListener('input', () => { localStorage.setItem('vmsim.trace', ta.value); paint(); });
  ta.addEventListener('scroll', () => { gutter.scrollTop = ta.scrollTop; });

  function substitute(line) {
    return line.replace(/\b([A-Z]+\d+)\b/g, (m) => (m in vars ? vars[m] : m));
  }

  // Runs the next non-blank line; returns false at the end or on an error.
  async function step() {
    const ls = lines();
    while (pc < ls.length && !ls[pc].replace(/#.*/, '').trim()) pc++;
    if (pc >= ls.length) {
      state.textContent = 'end of trace';
      paint();
      return false;
    }
    let req;
    try {
      req = parseTraceLine(substitute(ls[pc]));
    } catch (err) {
      state.textContent = `line ${pc + 1}: ${err.message}`;
      ctx.toast(new Error(`trace line ${pc + 1}: ${err.message}`));
      paint(pc);
      return false;
    }
    const r = await ctx.runOp(req.info.name, req.body);
    if (!r) {
      state.textContent = `line ${pc + 1} failed`;
      paint(pc);
      return false;
    }
    const prefix = { alloc_pages: 'PFN', spawn: 'PID', fork: 'PID', clone: 'PID', vfork: 'PID',
      mmap: 'ADDR', kmalloc: 'ADDR', vmalloc: 'ADDR', kmem_cache_alloc: 'ADDR', file_create: 'INO' }[req.info.name];
    if (prefix) {
      let k = 1;
      while (`${prefix}${k}` in vars) k++;
      const v = BigInt(r.value || 0);
      vars[`${prefix}${k}`] = prefix === 'PID' || prefix === 'INO' ? v.toString() : '0x' + v.toString(16);
    }
    state.textContent = `line ${pc + 1}: ${req.info.name} → seq ${r.seq}`;
    pc++;
    paint();
    return true;
  }

  btnStep.addEventListener('click', () => step());
  btnRun.addEventListener('click', async () => {
    running = true;
    state.textContent = 'running…';
    btnRun.disabled = true;
    btnPause.disabled = false;
    btnStep.disabled = true;
    while (running && (await step())) {
      const delay = Math.max(0, Number($('#tr-delay').value) || 0);
      if (delay) await new Promise((r) => setTimeout(r, delay));
    }
    running = false;
    btnRun.disabled = false;
    btnPause.disabled = true;
    btnStep.disabled = false;
  });
  btnPause.addEventListener('click', () => { running = false; state.textContent = `paused before line ${pc + 1}`; });
  $('#tr-rewind').addEventListener('click', () => { pc = 0; vars = {}; state.textContent = 'rewound'; paint(); });
  $('#tr-example').addEventListener('click', () => {
    ta.value = EXAMPLE;
    localStorage.setItem('vmsim.trace', ta.value);
    pc = 0;
    vars = {};
    state.textContent = 'example loaded';
    paint();
  });
  paint();
  return { reset() { pc = 0; vars = {}; paint(); } };
}

export { OPS };
