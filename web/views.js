// The machine views: buddy, slab, vmalloc, processes, swap & reclaim. Each update(snap) reads what
// it needs from the snapshot (the server's /proc text, frame map, counters at one seq) and draws
// pictures from the same numbers the text shows.

import { n } from './api.js';
import { parseBuddyinfo, parseMeminfo, parseSlabinfo, parseVmallocinfo, parseMaps, parseSwaps, parseStatus } from './procparse.js';
import { $, esc, kib, table, sparkline, hexs, bytesText } from './ui.js';
import { categoryColour } from './framemap.js';

function unavailable(el, what, err) {
  el.innerHTML = `<p class="muted unavailable">${esc(what)} is not available from this server${err ? `: ${esc(err.code ? `${err.code}: ${err.msg}` : err.message)}` : ''}.</p>`;
}

// ---------------------------------------------------------------------------------------------
// Buddy allocator

export async function updateBuddy(snap) {
  const [bi, fm, zi] = await Promise.all([snap.proc('buddyinfo'), snap.frameMap().catch(() => ({})),
    snap.proc('zoneinfo')]);
  $('#zoneinfo').textContent = zi.text || '';
  const pre = $('#buddyinfo');
  const box = $('#buddy-zones');
  if (!bi.text) { unavailable(box, '/proc/buddyinfo', bi.err); pre.textContent = ''; return; }
  pre.textContent = bi.text;
  const zones = parseBuddyinfo(bi.text);
  const zinfo = Object.fromEntries((fm.zones || []).map((z) => [z.name, z]));
  box.innerHTML = zones.map((z) => {
    const max = Math.max(1, ...z.free);
    const pages = z.free.reduce((a, c, o) => a + c * (1 << o), 0);
    const zi = zinfo[z.zone];
    let wm = '';
    if (zi) {
      const managed = n(zi.managedPages) || 1;
      const pct = (v) => `${Math.min(100, (100 * n(v)) / managed).toFixed(2)}%`;
      wm = `<div class="wm" title="free pages against the watermarks">
        <div class="wm-free" style="width:${pct(zi.freePages)}"></div>
        <span class="wm-mark min" style="left:${pct(zi.min)}" title="min ${n(zi.min)}"></span>
        <span class="wm-mark low" style="left:${pct(zi.low)}" title="low ${n(zi.low)}"></span>
        <span class="wm-mark high" style="left:${pct(zi.high)}" title="high ${n(zi.high)}"></span>
      </div>
      <div class="muted small">free ${n(zi.freePages)} of ${managed} managed pages · watermarks min ${n(zi.min)} / low ${n(zi.low)} / high ${n(zi.high)}</div>`;
    }
    const bars = z.free.map((c, o) => `<div class="hbar" data-order="${o}" data-count="${c}">
        <span class="count">${c}</span>
        <span class="bar"${c ? '' : ' data-zero'} style="height:${c ? Math.max(3, (100 * Math.sqrt(c)) / Math.sqrt(max)) : 0}%;background:${categoryColour('free' + o)}"></span>
        <span class="order">${o}</span></div>`).join('');
    return `<figure class="zone-hist" data-zone="${esc(z.zone)}">
      <figcaption><b>zone ${esc(z.zone)}</b> <span class="muted">free_area[0..10]: ${pages} free pages</span></figcaption>
      <div class="hist" role="img" aria-label="free blocks per order in zone ${esc(z.zone)}: ${z.free.join(', ')}">${bars}</div>
      <div class="muted small axis">order → (block = 2<sup>order</sup> pages; bar height √count)</div>
      ${wm}</figure>`;
  }).join('');
}

// Turns an op's events into the buddy allocator's split/merge chain.
export function parseChain(texts) {
  const steps = [];
  for (const t of texts) {
    let m;
    if ((m = /__rmqueue_smallest: zone (\S+) free_area\[(\d+)\] gives block at pfn (0x[0-9a-f]+)/.exec(t))) {
      steps.push({ kind: 'take', order: +m[2], pfn: Number(m[3]), zone: m[1], text: t });
    } else if ((m = /expand: split order-(\d+) block, upper half pfn (0x[0-9a-f]+) to free_area\[(\d+)\]/.exec(t))) {
      steps.push({ kind: 'split', order: +m[1], pfn: Number(m[2]), to: +m[3], text: t });
    } else if ((m = /alloc_pages: pfn (0x[0-9a-f]+) order (\d+) from zone (\S+)/.exec(t))) {
      steps.push({ kind: 'alloc', pfn: Number(m[1]), order: +m[2], zone: m[3], text: t });
    } else if ((m = /__free_pages: pfn (0x[0-9a-f]+) order (\d+)/.exec(t))) {
      steps.push({ kind: 'free', pfn: Number(m[1]), order: +m[2], text: t });
    } else if ((m = /buddy pfn (0x[0-9a-f]+) of order (\d+) is free, merge into order (\d+)/.exec(t))) {
      steps.push({ kind: 'merge', pfn: Number(m[1]), order: +m[2], into: +m[3], text: t });
    } else if ((m = /block pfn (0x[0-9a-f]+) order (\d+) to head of free_area/.exec(t))) {
      steps.push({ kind: 'done', pfn: Number(m[1]), order: +m[2], text: t });
    }
  }
  return steps;
}

let chainTimer = null;

// Shows the chain step by step, outlining on the frame map the block each step touches.
export function animateChain(texts, frameMap) {
  const steps = parseChain(texts);
  if (!steps.length) return false;
  const box = $('#buddy-chain');
  const first = steps[0];
  const base = steps.find((s) => s.kind === 'take' || s.kind === 'free') || first;
  const baseOrder = Math.max(...steps.map((s) => s.into ?? s.order));
  const span = 1 << baseOrder;
  const origin = Math.min(...steps.map((s) => s.pfn)) & ~(span - 1);
  const seg = (pfn, order, cls) => {
    const left = ((pfn - origin) / span) * 100, width = ((1 << order) / span) * 100;
    return `<span class="cseg ${cls}" style="left:${left}%;width:${width}%"></span>`;
  };
  const label = {
    take: (s) => `take an order-${s.order} block at pfn ${hexs(s.pfn)} from free_area[${s.order}] (zone ${s.zone})`,
    split: (s) => `split order ${s.order}: upper half at pfn ${hexs(s.pfn)} goes to free_area[${s.to}]`,
    alloc: (s) => `allocated pfn ${hexs(s.pfn)}, order ${s.order}`,
    free: (s) => `free pfn ${hexs(s.pfn)}, order ${s.order}`,
    merge: (s) => `buddy at pfn ${hexs(s.pfn)} (order ${s.order}) is free: merge into order ${s.into}`,
    done: (s) => `block at pfn ${hexs(s.pfn)}, order ${s.order}, goes to free_area[${s.order}]`,
  };
  const segFor = (s) => {
    switch (s.kind) {
      case 'split': return seg(s.pfn, s.to, 'freed');
      case 'merge': return seg(s.pfn, s.order, 'buddy');
      case 'done': return seg(s.pfn, s.order, 'freed');
      default: return seg(s.pfn, s.order, 'used');
    }
  };
  box.innerHTML = `<ol class="chain-steps" data-steps="${steps.length}">${steps.map((s, i) => `<li class="cstep ${s.kind}" style="animation-delay:${i * 0.45}s">
      <div class="cbar" title="pfn ${hexs(origin)} – ${hexs(origin + span - 1)}">${segFor(s)}</div>
      <span>${esc(label[s.kind](s))}</span></li>`).join('')}</ol>`;
  void base;
  if (frameMap) {
    clearTimeout(chainTimer);
    let i = 0;
    const tick = () => {
      if (i >= steps.length) { chainTimer = setTimeout(() => frameMap.setHighlights([]), 1500); return; }
      const s = steps[i++];
      const order = s.kind === 'split' ? s.to : s.order;
      frameMap.setHighlights([{ start: s.pfn, count: 1 << order, colour: s.kind === 'split' || s.kind === 'done' ? '#16a34a' : s.kind === 'merge' ? '#2563eb' : '#dc2626' }]);
      chainTimer = setTimeout(tick, 450);
    };
    tick();
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Slab

export async function updateSlab(snap) {
  const r = await snap.proc('slabinfo');
  const t = $('#slab-table');
  $('#slabinfo').textContent = r.text || '';
  if (!r.text) { unavailable($('#slab-bars'), '/proc/slabinfo', r.err); t.innerHTML = ''; return; }
  const caches = parseSlabinfo(r.text);
  table(t, ['cache', 'active objs', 'objs', 'obj size', 'objs/slab', 'pages/slab', 'active slabs', 'slabs', 'use'],
    caches.map((c) => [c.name, c.activeObjs, c.numObjs, c.objsize, c.objperslab, c.pagesperslab, c.activeSlabs, c.numSlabs,
      { html: `<span class="use" title="${c.activeObjs}/${c.numObjs}"><span style="width:${c.numObjs ? (100 * c.activeObjs) / c.numObjs : 0}%"></span></span>` }]),
    { numeric: [1, 2, 3, 4, 5, 6, 7], empty: 'no slab caches', rowAttr: (i) => `data-cache="${esc(caches[i].name)}"` });
  // Each cache's slabs as bars: objects in use fill the slabs in order (the picture the numbers
  // of slabinfo allow; free slabs are those beyond active_slabs).
  const used = caches.filter((c) => c.numSlabs > 0);
  $('#slab-bars').innerHTML = used.length ? `<h3>Slabs of each cache</h3>` + used.map((c) => {
    let left = c.activeObjs;
    const bars = [];
    for (let s = 0; s < Math.min(c.numSlabs, 64); s++) {
      const inUse = Math.max(0, Math.min(c.objperslab, left));
      left -= inUse;
      const state = inUse === c.objperslab ? 'full' : inUse ? 'partial' : 'empty';
      bars.push(`<span class="slab ${state}" title="slab ${s}: ${inUse}/${c.objperslab} objects"><span style="height:${(100 * inUse) / c.objperslab}%"></span></span>`);
    }
    return `<div class="slabrow"><code>${esc(c.name)}</code><span class="slabs">${bars.join('')}${c.numSlabs > 64 ? `<span class="muted">+${c.numSlabs - 64}</span>` : ''}</span></div>`;
  }).join('') : '';
}

// ---------------------------------------------------------------------------------------------
// vmalloc

export async function updateVmalloc(snap) {
  const [r, mi] = await Promise.all([snap.proc('vmallocinfo'), snap.proc('meminfo')]);
  const bar = $('#vmalloc-bar');
  $('#vmallocinfo').textContent = r.text || '';
  if (r.text === undefined || r.text === null) { unavailable(bar, '/proc/vmallocinfo', r.err); $('#vmalloc-table').innerHTML = ''; return; }
  const areas = parseVmallocinfo(r.text);
  table($('#vmalloc-table'), ['start', 'end', 'size', 'pages', 'guard', 'caller', 'kind'],
    areas.map((a) => [hexs(a.start), hexs(a.end), bytesText(a.size), a.pages, a.kind === 'vmalloc' || a.kind === 'vmap' || a.kind === 'ioremap' ? '4 KiB' : '', a.caller, a.kind]),
    { numeric: [2, 3], empty: 'no vmalloc areas' });
  const m = mi.text ? parseMeminfo(mi.text) : {};
  if (!areas.length) {
    bar.innerHTML = `<p class="muted">The vmalloc range${m.VmallocTotal ? ` (${kib(m.VmallocTotal)})` : ''} is empty.</p>`;
    return;
  }
  // Draw the used part of the range to scale, each area with its trailing guard page hatched.
  const lo = areas.reduce((a, x) => (x.start < a ? x.start : a), areas[0].start);
  const hi = areas.reduce((a, x) => (x.end > a ? x.end : a), areas[0].end);
  const span = Number(hi - lo) || 1;
  const segs = areas.map((a) => {
    const left = (Number(a.start - lo) / span) * 100, width = (Number(a.end - a.start) / span) * 100;
    const guard = a.kind === 'vmalloc' || a.kind === 'vmap' || a.kind === 'ioremap' ? (4096 / Number(a.end - a.start)) * 100 : 0;
    return `<span class="varea ${esc(a.kind)}" style="left:${left}%;width:${width}%" title="${esc(a.text)}">`
      + `<span class="vpages" style="width:${100 - guard}%"></span><span class="vguard" style="width:${guard}%"></span></span>`;
  }).join('');
  bar.innerHTML = `<div class="vrange">${segs}</div><div class="vaxis"><span>${hexs(lo)}</span><span>${hexs(hi)}</span></div>`
    + `<div class="muted small">${areas.length} areas, ${bytesText(areas.reduce((a, x) => a + x.size, 0))} including guard pages`
    + `${m.VmallocUsed !== undefined ? ` · VmallocUsed ${kib(m.VmallocUsed)} of VmallocTotal ${kib(m.VmallocTotal)}` : ''}</div>`
    + `<ul class="legend"><li><span class="sw" style="background:${categoryColour('vmalloc')}"></span>pages</li><li><span class="sw guard"></span>guard page (unmapped)</li></ul>`;
}

// ---------------------------------------------------------------------------------------------
// Processes

// /proc/PID/smaps: per VMA (keyed by start address) the kB fields.
export function parseSmaps(text) {
  const out = new Map();
  let cur = null;
  for (const line of text.split('\n')) {
    const h = /^([0-9a-f]+)-([0-9a-f]+)\s/.exec(line);
    if (h) { cur = {}; out.set(BigInt('0x' + h[1]), cur); continue; }
    const m = /^(\w+):\s+(\d+) kB/.exec(line);
    if (m && cur) cur[m[1]] = Number(m[2]);
  }
  return out;
}

const USER_TOP = { ARCH_X86_64: 0x800000000000n, ARCH_I386: 0xc0000000n };

function vmaKind(v) {
  if (v.path === '[heap]') return 'heap';
  if (v.path === '[stack]') return 'stack';
  if (v.path.startsWith('[v')) return 'vdso';
  if (v.path && v.perms[2] === 'x') return 'text';
  if (v.path && v.perms[1] === 'w') return 'data';
  if (v.path) return 'rodata';
  return v.perms[1] === 'w' ? 'anon' : 'anon-ro';
}

export async function updateProcs(snap, state) {
  const sel = $('#pid-select');
  const pids = await snap.pids();
  const cur = (state.pid && pids.find((p) => p.pid === state.pid.pid)) || pids[0];
  sel.innerHTML = pids.map((p) => `<option value="${p.pid}"${p.pid === cur?.pid ? ' selected' : ''}>${p.pid} ${esc(p.comm || '')}</option>`).join('');
  if (!pids.length) {
    $('#as-bar').innerHTML = '<p class="muted">No processes yet: spawn one.</p>';
    $('#maps-table').innerHTML = '';
    $('#proc-summary').textContent = '';
    $('#maps-text').textContent = '';
    return;
  }
  state.pid = cur;
  const pid = cur.pid;
  const [maps, status, smaps] = await Promise.all([snap.proc(`${pid}/maps`), snap.proc(`${pid}/status`), snap.proc(`${pid}/smaps`)]);
  $$pidtext(pid);
  $('#maps-text').textContent = `${maps.text || ''}\n${status.text || ''}`;
  if (!maps.text && maps.err) { unavailable($('#as-bar'), `/proc/${pid}/maps`, maps.err); return; }
  const vmas = parseMaps(maps.text || '');
  const st = status.text ? parseStatus(status.text) : {};
  $('#proc-summary').textContent = [st.Name && `comm ${st.Name}`, st.VmSize && `VmSize ${st.VmSize}`, st.VmRSS && `RSS ${st.VmRSS}`,
    st.RssAnon && `anon ${st.RssAnon}`, st.RssFile && `file ${st.RssFile}`, st.VmSwap && `swap ${st.VmSwap}`].filter(Boolean).join(' · ');
  const arch = snap.machine?.config?.arch || 'ARCH_X86_64';
  drawAddressSpace(vmas, arch);
  // per-VMA residency from smaps: Rss, pages shared with another mm (COW after fork), swap
  const sm = smaps.text ? parseSmaps(smaps.text) : new Map();
  const kb = (k) => (k === undefined ? '' : `${k} kB`);
  table($('#maps-table'), ['start', 'end', 'size', 'perms', 'Rss', 'shared', 'swap', 'offset', 'inode', 'path'],
    vmas.map((v) => {
      const s = sm.get(v.start) || {};
      const shared = (s.Shared_Clean || 0) + (s.Shared_Dirty || 0);
      const cow = shared && v.perms[3] === 'p';
      return [{ html: `<button type="button" class="link addr" data-addr="${hexs(v.start)}">${v.start.toString(16).padStart(8, '0')}</button>` },
        v.end.toString(16).padStart(8, '0'), bytesText(v.end - v.start), v.perms, kb(s.Rss),
        { html: shared ? `<span class="${cow ? 'cow' : ''}" title="${cow ? 'private pages still shared copy-on-write with a parent or child' : 'shared pages'}">${shared} kB${cow ? ' COW' : ''}</span>` : (s.Rss !== undefined ? '0 kB' : '') },
        kb(s.Swap), v.offset.toString(16).padStart(8, '0'), v.inode, v.path];
    }),
    { numeric: [2, 4, 5, 6], empty: 'no VMAs', rowAttr: (i) => `data-start="${hexs(vmas[i].start)}"` });
}

function $$pidtext(pid) {
  for (const e of document.querySelectorAll('.pidtext')) e.textContent = String(pid);
}

// The address space from 0 to the top: areas to a compressed scale (log of the size) with the
// unmapped gaps between them drawn as breaks, and the kernel half on i386.
function drawAddressSpace(vmas, arch) {
  const top = USER_TOP[arch] || USER_TOP.ARCH_X86_64;
  const parts = [];
  let at = 0n;
  const gap = (size) => parts.push(`<span class="as-gap" style="flex-grow:${Math.max(1, Math.log2(Number(size)) - 10)}" title="unmapped: ${bytesText(size)}">${Number(size) > 1 << 30 ? '≈' : ''}</span>`);
  for (const v of vmas) {
    if (v.start > at) gap(v.start - at);
    const size = v.end - v.start;
    const kind = vmaKind(v);
    parts.push(`<button type="button" class="as-vma ${kind}" data-addr="${hexs(v.start)}" style="flex-grow:${Math.max(2, Math.log2(Number(size)) - 9)}" title="${esc(v.text)}"><span>${esc(kind)}</span></button>`);
    at = v.end;
  }
  if (top > at) gap(top - at);
  if (arch === 'ARCH_I386') parts.push('<span class="as-kernel" title="kernel half: 0xc0000000-0xffffffff">kernel 3G–4G</span>');
  $('#as-bar').innerHTML = `<div class="as">${parts.join('')}</div><div class="vaxis"><span>0</span><span>${hexs(arch === 'ARCH_I386' ? 0x100000000n : top)}</span></div>`;
}

// x86 page-table entry bits (arch/x86/include/asm/pgtable_types.h), plus vmsim's software bits.
const PTE_BITS = [
  [0x1n, 'PRESENT'], [0x2n, 'RW'], [0x4n, 'USER'], [0x8n, 'PWT'], [0x10n, 'PCD'], [0x20n, 'ACCESSED'],
  [0x40n, 'DIRTY'], [0x80n, 'PSE'], [0x100n, 'GLOBAL'], [0x200n, 'COW'], [0x400n, 'SPECIAL'], [1n << 63n, 'NX'],
];
const LEVELS = { ARCH_X86_64: ['pgd', 'pud', 'pmd', 'pte'], ARCH_I386: ['pgd', 'pte'] };

export function pteBits(entry) {
  const e = BigInt(entry);
  const bits = PTE_BITS.filter(([b]) => e & b).map(([, name]) => name);
  const pfn = (e & 0x000ffffffffff000n) >> 12n;
  return { bits, pfn, present: !!(e & 1n) };
}

function entryHtml(entry) {
  const d = pteBits(entry);
  return `<code>${hexs(entry)}</code> ${d.present ? `→ pfn ${hexs(d.pfn)}` : '<span class="bit off">not present</span>'} `
    + d.bits.map((b) => `<span class="bit">${b}</span>`).join('');
}

// The virtual address cut into its page-table indices (x86_64 9/9/9/9/12, i386 10/10/12).
export function splitAddress(addr, arch) {
  const a = BigInt(addr);
  const parts = arch === 'ARCH_I386'
    ? [['pgd', 22n, 10n], ['pte', 12n, 10n], ['offset', 0n, 12n]]
    : [['pgd', 39n, 9n], ['pud', 30n, 9n], ['pmd', 21n, 9n], ['pte', 12n, 9n], ['offset', 0n, 12n]];
  return parts.map(([name, shift, bits]) => ({ name, bits: Number(bits), hi: Number(shift + bits - 1n), lo: Number(shift), value: Number((a >> shift) & ((1n << bits) - 1n)) }));
}

export function renderSplit(addr, arch) {
  const box = $('#addr-split');
  let parts;
  try { parts = splitAddress(addr, arch); } catch { box.innerHTML = ''; return; }
  box.innerHTML = `<div class="split" aria-label="address bits">${parts.map((p) => `<div class="sp ${p.name}" style="flex-grow:${p.bits}">`
    + `<span class="spn">${p.name}</span><b>${p.name === 'offset' ? hexs(p.value) : p.value}</b><span class="spb">bits ${p.hi}–${p.lo}</span></div>`).join('')}</div>`;
}

// A walk as the op's events tell it: the tables the walk went through or built (one per level),
// the PTE it set with its bits decoded, or the TLB hit that made the walk unnecessary.
export function renderWalk(result, arch) {
  const box = $('#walk');
  const ev = result.events || [];
  const phys = result.value2;
  const names = LEVELS[arch] || LEVELS.ARCH_X86_64;
  const head = `<p><b>${esc(result.fault || 'FAULT_NONE')}</b>${phys !== undefined ? ` · physical address <code>${hexs(phys || 0)}</code>` : ''}`
    + ` · TLB ${result.tlbHits || 0} hit / ${result.tlbMisses || 0} miss${result.seq ? ` · seq ${result.seq}` : ''}</p>`;
  const levels = [];
  for (const t of ev) {
    let m;
    if ((m = /__pte_alloc: (\w+) entry for (0x[0-9a-f]+) -> table pfn (0x[0-9a-f]+)/.exec(t))) levels.push({ level: m[1], text: `${m[1]} entry was empty: new next-level table at pfn ${m[3]}` });
    else if ((m = /set_pte_at: (0x[0-9a-f]+) -> pfn (0x[0-9a-f]+) pte (0x[0-9a-f]+)/.exec(t))) levels.push({ level: names[names.length - 1], text: `pte set → page pfn ${m[2]}`, entry: m[3] });
    else if ((m = /TLB hit: (0x[0-9a-f]+) -> pfn (0x[0-9a-f]+)/.exec(t))) levels.push({ level: 'TLB', text: `hit: pfn ${m[2]}, no walk needed` });
  }
  const summary = levels.length ? `<ol class="walk-levels">${levels.map((l) => `<li data-level="${esc(l.level)}"><b>${esc(l.level)}</b> ${esc(l.text)}${l.entry ? `<div class="pte">${entryHtml(l.entry)}</div>` : ''}</li>`).join('')}</ol>`
    : ev.length ? '' : '<p class="muted">No fault and no new tables: the translation came from the TLB or from PTEs that were already present.</p>';
  box.innerHTML = head + summary + (ev.length ? `<details${levels.length ? '' : ' open'}><summary>All ${ev.length} kernel steps</summary><ol class="walk-events">${ev.map((t) => {
    const m = /pte (0x[0-9a-f]+)/.exec(t);
    return `<li>${esc(t)}${m ? `<div class="pte">${entryHtml(m[1])}</div>` : ''}</li>`;
  }).join('')}</ol></details>` : '');
}

// ---------------------------------------------------------------------------------------------
// Swap & reclaim

const CHARTS = [
  ['pgfault', 'page faults', '#2563eb'],
  ['pgmajfault', 'major faults', '#7c3aed'],
  ['pswpin', 'pswpin', '#0891b2'],
  ['pswpout', 'pswpout', '#db2777'],
  ['nr_free_pages', 'free pages', '#16a34a'],
  ['pgsteal_kswapd', 'pgsteal_kswapd', '#ea580c'],
  ['pgsteal_direct', 'pgsteal_direct', '#b45309'],
  ['oom_kill', 'OOM kills', '#dc2626'],
];

export async function updateReclaim(snap, history, oomEvents) {
  const [mi, free, swaps, counters] = await Promise.all([snap.proc('meminfo'), snap.proc('free'), snap.proc('swaps'), snap.counters()]);
  $('#meminfo').textContent = mi.text || (mi.err ? `(${mi.err.msg || mi.err.message})` : '');
  $('#free-text').textContent = free.text || (free.err ? `(${free.err.msg || free.err.message})` : '');
  const m = mi.text ? parseMeminfo(mi.text) : null;
  const cards = $('#reclaim-cards');
  if (m) {
    const card = (label, k, extra = '') => (m[k] === undefined ? '' : `<div class="card" data-key="${esc(k)}"><span class="muted">${esc(label)}</span><b>${kib(m[k])}</b>${extra}</div>`);
    const lru = ['Active(anon)', 'Inactive(anon)', 'Active(file)', 'Inactive(file)', 'Unevictable'];
    const lmax = Math.max(1, ...lru.map((k) => m[k] || 0));
    cards.innerHTML = card('MemTotal', 'MemTotal') + card('MemFree', 'MemFree') + card('MemAvailable', 'MemAvailable')
      + card('Cached', 'Cached') + card('Dirty', 'Dirty') + card('AnonPages', 'AnonPages') + card('Slab', 'Slab')
      + card('PageTables', 'PageTables') + card('SwapTotal', 'SwapTotal') + card('SwapFree', 'SwapFree') + card('SwapCached', 'SwapCached')
      + `<div class="card wide"><span class="muted">LRU lists</span>${lru.filter((k) => m[k] !== undefined).map((k) => `<div class="lru" data-lru="${esc(k)}"><span>${esc(k)}</span><span class="lbar"><span style="width:${(100 * m[k]) / lmax}%"></span></span><span class="num">${kib(m[k])}</span></div>`).join('')}</div>`;
  } else {
    unavailable(cards, '/proc/meminfo', mi.err);
  }
  const list = swaps.text ? parseSwaps(swaps.text) : [];
  table($('#swaps-table'), ['name', 'type', 'size', 'used', 'use', 'priority'],
    list.map((s) => [s.name, s.type, kib(s.size), kib(s.used), { html: `<span class="use"><span style="width:${s.size ? (100 * s.used) / s.size : 0}%"></span></span>` }, s.prio]),
    { numeric: [2, 3, 5], empty: swaps.text !== undefined && swaps.text !== null ? 'no swap areas: mkswap + swapon' : 'swap not available from this server' });
  const cmap = counters.counters ? Object.fromEntries(counters.counters.map((c) => [c.name, n(c.value)])) : {};
  $('#charts').innerHTML = CHARTS.filter(([k]) => k in cmap).map(([k, label, colour]) => {
    const vals = history.map((h) => h.c[k] ?? 0);
    return `<figure class="chart" data-counter="${k}"><figcaption>${esc(label)} <b>${cmap[k]}</b></figcaption>${sparkline(vals.length ? vals : [cmap[k]], { colour })}</figure>`;
  }).join('') || '<p class="muted">No counters yet.</p>';
  $('#oom-list').innerHTML = oomEvents.length ? oomEvents.map((e) => `<li>seq ${e.seq}: ${esc(e.text)}</li>`).join('') : '<li class="muted">none</li>';
}
