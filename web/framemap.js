// The physical memory map: every frame a cell on a canvas, coloured by who owns it.
// Frames are drawn from a typed array: one 32-bit colour per frame goes into an ImageData at one
// pixel per frame (an off-screen canvas `cols` wide), and only the visible rows are scaled up onto
// the on-screen canvas with smoothing off. A 1 GiB machine (262,144 frames) costs one 1 MiB
// pixel buffer and redraws only what the scroll window shows.

import { bytes, n } from './api.js';

// struct page flag bits as FrameMapResponse documents them.
export const PG = {
  head: 0x10, tail: 0x20, lru: 0x40, active: 0x80, referenced: 0x100, dirty: 0x200,
  writeback: 0x400, swapcache: 0x800, uptodate: 0x1000, swapbacked: 0x2000,
  unevictable: 0x4000, mlocked: 0x8000,
};

// Categories: 0..10 free by order, then owners, then the two states that override the owner.
const FREE_COLOURS = ['#dcf5e6', '#c6eed7', '#aee5c6', '#95dbb3', '#7bd09f', '#62c48b',
  '#4ab677', '#36a565', '#269253', '#1a7d44', '#116936'];
const OWNERS = [
  // [category name as the server's page_types spells it, label, colour]
  ['reserved', 'reserved (firmware, kernel image, mem_map)', '#5b6472'],
  ['kernel', 'kernel (alloc_pages)', '#f97316'],
  ['kmalloc', 'kmalloc large (> 8 KiB)', '#c2410c'],
  ['slab', 'slab', '#8b5cf6'],
  ['pgtable', 'page table', '#e11d48'],
  ['vmalloc', 'vmalloc', '#ec4899'],
  ['kstack', 'kernel stack', '#7c2d12'],
  ['anon', 'anonymous', '#3b82f6'],
  ['file', 'file cache', '#facc15'],
  ['zero', 'zero page', '#111827'],
  ['driver', 'driver buffer', '#0d9488'],
  ['hugetlb', 'huge page (hugetlb pool)', '#4338ca'],
];
const DIRTY = { key: 'dirty', label: 'dirty', colour: '#a16207' };
const SWAPCACHE = { key: 'swapcache', label: 'swap cache', colour: '#06b6d4' };
const UNKNOWN = { key: 'other', label: 'other', colour: '#9ca3af' };

export const CATEGORIES = [
  ...FREE_COLOURS.map((c, o) => ({ key: `free${o}`, label: `free, order ${o}`, colour: c })),
  ...OWNERS.map(([key, label, colour]) => ({ key, label, colour })),
  DIRTY, SWAPCACHE, UNKNOWN,
];
const CAT_INDEX = Object.fromEntries(CATEGORIES.map((c, i) => [c.key, i]));
const ZONE_COLOURS = { DMA: '#0ea5e9', DMA32: '#6366f1', Normal: '#10b981', HighMem: '#f43f5e' };

function rgba(hexColour) {
  const v = parseInt(hexColour.slice(1), 16);
  // ImageData is RGBA in memory; a little-endian Uint32 view reads it as ABGR.
  return (0xff << 24) | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff);
}
const CAT_RGBA = new Uint32Array(CATEGORIES.map((c) => rgba(c.colour) >>> 0));

const CELLS = [1, 2, 3, 4, 6, 8, 12, 16, 24];
const GUTTER = 64; // CSS px on the left: zone strip and row pfn labels

export class FrameMap {
  constructor(root) {
    this.root = root;
    this.scroll = root.querySelector('.fm-scroll');
    this.spacer = root.querySelector('.fm-spacer');
    this.canvas = root.querySelector('canvas');
    this.ctx = this.canvas.getContext('2d');
    this.info = root.querySelector('.fm-info');
    this.legend = root.querySelector('.fm-legend');
    this.zoomLabel = root.querySelector('.fm-zoom');
    this.cellIdx = 3;
    this.nr = 0;
    this.cursor = -1;
    this.hover = -1;
    this.highlights = [];
    this.off = document.createElement('canvas');
    this.pending = false;
    this.scroll.addEventListener('scroll', () => this.schedule());
    new ResizeObserver(() => this.layout()).observe(this.scroll);
    this.canvas.addEventListener('mousemove', (e) => this.onMove(e));
    this.canvas.addEventListener('mouseleave', () => { this.hover = -1; this.showInfo(this.cursor); this.schedule(); });
    this.canvas.addEventListener('click', (e) => { const p = this.pfnAtEvent(e); if (p >= 0) this.setCursor(p); });
    this.canvas.addEventListener('keydown', (e) => this.onKey(e));
    root.querySelector('.fm-zoom-in').addEventListener('click', () => this.zoom(1));
    // clicking an owner in the legend outlines all its frames: where did my slab pages go?
    this.legend.addEventListener('click', (e) => {
      const li = e.target.closest('[data-cat]');
      if (!li) return;
      this.catHighlight = this.catHighlight === li.dataset.cat ? null : li.dataset.cat;
      this.renderLegend();
      this.schedule();
    });
    root.querySelector('.fm-zoom-out').addEventListener('click', () => this.zoom(-1));
    this.onSelect = null;
  }

  // Takes a FrameMapResponse (whole machine) and recomputes every frame's category and colour.
  setData(resp, machineId) {
    const nr = n(resp.count) || n(resp.nrFrames);
    const flags = bytes(resp.flags);
    const orders = bytes(resp.orders);
    const types = resp.pageTypes || [];
    const typeCat = types.map((t) => (t === 'free' ? -1 : CAT_INDEX[t] ?? CAT_INDEX.other));
    const start = n(resp.startPfn);
    const cat = new Uint8Array(nr);
    const head = new Uint32Array(nr);
    const ord = new Uint8Array(nr);
    const fl = new Uint16Array(nr);
    const counts = new Array(CATEGORIES.length).fill(0);
    let blockHead = 0, blockEnd = 0, blockOrder = 0;
    for (let i = 0; i < nr; i++) {
      const f = flags[2 * i] | (flags[2 * i + 1] << 8);
      fl[i] = f;
      const o = orders[i];
      if (o !== 255 && o !== undefined) { blockHead = i; blockOrder = o; blockEnd = i + (1 << o); }
      const inBlock = i < blockEnd;
      head[i] = inBlock ? blockHead : i;
      ord[i] = inBlock ? blockOrder : 0;
      let c;
      const t = typeCat[f & 0xf];
      if (t === undefined) c = CAT_INDEX.other;
      else if (t === -1) c = inBlock ? Math.min(blockOrder, 10) : 0;
      else if (f & PG.swapcache) c = CAT_INDEX.swapcache;
      else if (f & PG.dirty) c = CAT_INDEX.dirty;
      else c = t;
      cat[i] = c;
      counts[c]++;
    }
    this.start = start;
    this.nr = nr;
    this.cat = cat;
    this.head = head;
    this.ord = ord;
    this.flags = fl;
    this.types = types;
    this.zones = (resp.zones || []).map((z) => ({
      name: z.name, start: n(z.startPfn), end: n(z.startPfn) + n(z.spannedPages),
    }));
    this.counts = counts;
    this.seq = n(resp.seq);
    this.canvas.dataset.seq = String(this.seq);
    this.canvas.dataset.frames = String(nr);
    this.renderLegend();
    if (machineId !== this.machineId) {
      this.machineId = machineId;
      this.cursor = -1;
      this.needFit = true;
    }
    this.layout(true);
    this.showInfo(this.hover >= 0 ? this.hover : this.cursor);
  }

  renderLegend() {
    const items = [];
    const free = this.counts.slice(0, 11).reduce((a, b) => a + b, 0);
    items.push(`<li><span class="sw sw-free"></span>free by order (${free})</li>`);
    CATEGORIES.forEach((c, i) => {
      if (i < 11 || !this.counts[i]) return;
      const on = this.catHighlight === c.key;
      items.push(`<li data-cat="${c.key}"><button type="button" class="legend-btn" aria-pressed="${on}" title="outline these frames on the map">`
        + `<span class="sw" style="background:${c.colour}"></span>${c.label} (${this.counts[i]})</button></li>`);
    });
    for (const z of this.zones) {
      items.push(`<li class="zone"><span class="sw" style="background:${ZONE_COLOURS[z.name] || '#999'}"></span>zone ${z.name}: pfn 0x${z.start.toString(16)}–0x${(z.end - 1).toString(16)}</li>`);
    }
    this.legend.innerHTML = items.join('');
    this.root.querySelector('.fm-free-scale').innerHTML = FREE_COLOURS.map((c, o) =>
      `<span style="background:${c}" title="order ${o}">${o}</span>`).join('');
  }

  get cell() { return this.cellPx || CELLS[this.cellIdx]; }

  // The biggest cells with which the whole machine fits the window (1 px for 1 GiB).
  fitZoom() {
    const w = Math.max(100, this.scroll.clientWidth - GUTTER - 4);
    const h = parseFloat(getComputedStyle(this.scroll).maxHeight) || 600;
    this.cellIdx = 0;
    for (let i = CELLS.length - 1; i >= 0; i--) {
      const cols = this.colsFor(CELLS[i]);
      if (Math.ceil(this.nr / cols) * Math.max(CELLS[i], Math.floor(w / cols)) <= h * 1.1) { this.cellIdx = i; break; }
    }
  }

  zoom(d) {
    // the next cell size that changes the number of columns
    let i = this.cellIdx + d;
    while (i >= 0 && i < CELLS.length && this.colsFor(CELLS[i]) === this.cols) i += d;
    if (i < 0 || i >= CELLS.length) return;
    // keep the frame at the top of the window in view
    const top = this.cols ? Math.floor(this.scroll.scrollTop / this.cell) * this.cols : 0;
    this.cellIdx = i;
    this.layout(true);
    this.scrollToPfn(top, false);
  }

  // Columns for a cell size: powers of two up to 64, then multiples of 64, so rows start on
  // 64-frame boundaries and buddy blocks line up.
  colsFor(base) {
    const w = Math.max(100, this.scroll.clientWidth - GUTTER - 4);
    let cols = 16;
    while (cols < 64 && cols * 2 * base <= w) cols *= 2;
    if (cols === 64) cols = Math.max(64, Math.min(4096, Math.floor(w / base / 64) * 64));
    return cols;
  }

  layout(force) {
    // a hidden panel has no width: lay out when it is shown again
    if (!this.nr || !this.scroll.clientWidth) return;
    if (this.needFit) {
      this.needFit = false;
      this.fitZoom();
    }
    const w = Math.max(100, this.scroll.clientWidth - GUTTER - 4);
    const cols = this.colsFor(CELLS[this.cellIdx]);
    // then grow the cells (whole pixels) to fill the width
    this.cellPx = Math.max(CELLS[this.cellIdx], Math.floor(w / cols));
    const rows = Math.ceil(this.nr / cols);
    const changed = cols !== this.cols || rows !== this.rows;
    this.cols = cols;
    this.rows = rows;
    // the window shrinks to a small machine's map; big ones scroll inside max-height
    this.scroll.style.height = `${rows * this.cell + 2}px`;
    this.zoomLabel.textContent = `${this.cell} px/frame · ${cols} frames/row`;
    if (changed || force) this.paintOffscreen();
    this.draw();
  }

  paintOffscreen() {
    const { cols, rows, nr } = this;
    this.off.width = cols;
    this.off.height = rows;
    const octx = this.off.getContext('2d');
    const img = octx.createImageData(cols, rows);
    const px = new Uint32Array(img.data.buffer);
    const cat = this.cat;
    for (let i = 0; i < nr; i++) px[i] = CAT_RGBA[cat[i]];
    octx.putImageData(img, 0, 0);
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    if (!this.nr || !this.cols || !this.scroll.clientWidth) return;
    const dpr = window.devicePixelRatio || 1;
    const cssW = this.scroll.clientWidth;
    const cssH = Math.min(this.scroll.clientHeight, this.rows * this.cell + 2);
    if (this.canvas.width !== Math.round(cssW * dpr) || this.canvas.height !== Math.round(cssH * dpr)) {
      this.canvas.width = Math.round(cssW * dpr);
      this.canvas.height = Math.round(cssH * dpr);
      this.canvas.style.width = `${cssW}px`;
      this.canvas.style.height = `${cssH}px`;
    }
    this.spacer.style.height = `${Math.max(0, this.rows * this.cell + 2 - cssH)}px`;
    const ctx = this.ctx;
    const cell = this.cell;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const top = this.scroll.scrollTop;
    const firstRow = Math.floor(top / cell);
    const yOff = firstRow * cell - top;
    const nrows = Math.min(this.rows - firstRow, Math.ceil(cssH / cell) + 1);
    this.view = { firstRow, yOff, nrows };
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.off, 0, firstRow, this.cols, nrows, GUTTER, yOff, this.cols * cell, nrows * cell);
    if (cell >= 6) this.drawGrid(ctx, firstRow, nrows, yOff);
    this.drawGutter(ctx, firstRow, nrows, yOff);
    this.drawZones(ctx, firstRow, nrows, yOff);
    for (const h of this.highlights) this.outline(ctx, h.start, h.count, h.colour, yOff, firstRow);
    if (this.catHighlight) this.outlineCategory(ctx, CAT_INDEX[this.catHighlight], firstRow, nrows, yOff);
    const mark = this.hover >= 0 ? this.hover : this.cursor;
    if (mark >= 0) {
      const h = this.head[mark], o = this.ord[mark];
      const count = this.types[this.flags[mark] & 0xf] === 'free' || this.flags[h] & PG.head ? 1 << o : 1;
      this.outline(ctx, h, count, '#111', yOff, firstRow);
      this.outline(ctx, mark, 1, '#fff', yOff, firstRow);
    }
  }

  drawGrid(ctx, firstRow, nrows, yOff) {
    const cell = this.cell;
    ctx.strokeStyle = 'rgba(255,255,255,0.55)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    const x0 = GUTTER, x1 = GUTTER + this.cols * cell;
    for (let r = 0; r <= nrows; r++) { const y = yOff + r * cell + 0.5; ctx.moveTo(x0, y); ctx.lineTo(x1, y); }
    for (let c = 0; c <= this.cols; c++) { const x = x0 + c * cell + 0.5; ctx.moveTo(x, yOff); ctx.lineTo(x, yOff + nrows * cell); }
    ctx.stroke();
  }

  drawGutter(ctx, firstRow, nrows, yOff) {
    const cell = this.cell;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, GUTTER - 2, this.canvas.height);
    for (const z of this.zones) {
      const r0 = Math.floor((z.start - this.start) / this.cols), r1 = Math.ceil((z.end - this.start) / this.cols);
      const a = Math.max(r0, firstRow), b = Math.min(r1, firstRow + nrows);
      if (a >= b) continue;
      ctx.fillStyle = ZONE_COLOURS[z.name] || '#999';
      ctx.fillRect(GUTTER - 8, yOff + (a - firstRow) * cell, 5, (b - a) * cell);
    }
    ctx.fillStyle = '#555';
    ctx.font = '10px ui-monospace, monospace';
    ctx.textBaseline = 'top';
    const every = Math.max(1, Math.ceil(14 / cell));
    for (let r = firstRow; r < firstRow + nrows; r++) {
      if (r % every) continue;
      ctx.fillText((this.start + r * this.cols).toString(16).padStart(5, '0'), 4, yOff + (r - firstRow) * cell);
    }
  }

  drawZones(ctx, firstRow, nrows, yOff) {
    const cell = this.cell;
    ctx.lineWidth = 2;
    ctx.font = 'bold 11px system-ui, sans-serif';
    for (const z of this.zones) {
      const p = z.start - this.start;
      if (p <= 0) continue;
      const r = Math.floor(p / this.cols), c = p % this.cols;
      if (r < firstRow - 1 || r > firstRow + nrows) continue;
      const y = yOff + (r - firstRow) * cell;
      ctx.strokeStyle = ZONE_COLOURS[z.name] || '#333';
      ctx.beginPath();
      // a step line: below the previous zone's last partial row, then across
      ctx.moveTo(GUTTER, y + cell);
      ctx.lineTo(GUTTER + c * cell, y + cell);
      ctx.lineTo(GUTTER + c * cell, y);
      ctx.lineTo(GUTTER + this.cols * cell, y);
      ctx.stroke();
      const label = `▸ ${z.name}`;
      const w = ctx.measureText(label).width + 6;
      ctx.fillStyle = 'rgba(255,255,255,0.85)';
      ctx.fillRect(GUTTER + this.cols * cell - w - 2, y + 1, w, 14);
      ctx.fillStyle = ZONE_COLOURS[z.name] || '#333';
      ctx.fillText(label, GUTTER + this.cols * cell - w + 1, y + 2);
    }
  }

  // Outlines frames [start, start+count) (absolute pfns), row by row.
  outline(ctx, start, count, colour, yOff, firstRow) {
    const cell = this.cell;
    ctx.strokeStyle = colour;
    ctx.lineWidth = cell >= 4 ? 2 : 1;
    let p = start - this.start;
    const end = p + count;
    while (p < end) {
      const r = Math.floor(p / this.cols), c = p % this.cols;
      const len = Math.min(end - p, this.cols - c);
      if (r >= firstRow && r < firstRow + this.view.nrows) {
        ctx.strokeRect(GUTTER + c * cell + 0.5, yOff + (r - firstRow) * cell + 0.5,
          Math.max(len * cell - 1, 1), Math.max(cell - 1, 1));
      }
      p += len;
    }
  }

  // Outlines every visible frame of one category (runs within a row as one box).
  outlineCategory(ctx, ci, firstRow, nrows, yOff) {
    const cell = this.cell;
    ctx.strokeStyle = '#111';
    ctx.lineWidth = 2;
    for (let r = firstRow; r < firstRow + nrows; r++) {
      let c = 0;
      while (c < this.cols) {
        const i = r * this.cols + c;
        if (i >= this.nr) return;
        if (this.cat[i] !== ci) { c++; continue; }
        let e = c;
        while (e < this.cols && r * this.cols + e < this.nr && this.cat[r * this.cols + e] === ci) e++;
        ctx.strokeRect(GUTTER + c * cell + 1, yOff + (r - firstRow) * cell + 1, (e - c) * cell - 2, cell - 2);
        c = e;
      }
    }
  }

  setHighlights(list) {
    this.highlights = list;
    this.schedule();
  }

  pfnAtEvent(e) {
    const rect = this.canvas.getBoundingClientRect();
    const x = e.clientX - rect.left - GUTTER, y = e.clientY - rect.top + this.scroll.scrollTop;
    if (x < 0 || x >= this.cols * this.cell) return -1;
    const pfn = Math.floor(y / this.cell) * this.cols + Math.floor(x / this.cell);
    return pfn < this.nr ? this.start + pfn : -1;
  }

  onMove(e) {
    const p = this.pfnAtEvent(e);
    if (p === this.hover) return;
    this.hover = p;
    this.showInfo(p >= 0 ? p : this.cursor);
    this.schedule();
  }

  onKey(e) {
    if (!this.nr) return;
    const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -this.cols, ArrowDown: this.cols,
      PageUp: -this.cols * 16, PageDown: this.cols * 16 }[e.key];
    if (step !== undefined) {
      e.preventDefault();
      // the first key press lands on the first frame, later ones move from there
      if (this.cursor < 0) this.setCursor(this.start);
      else this.setCursor(Math.max(this.start, Math.min(this.start + this.nr - 1, this.cursor + step)));
    } else if (e.key === '+' || e.key === '=') { e.preventDefault(); this.zoom(1); }
    else if (e.key === '-') { e.preventDefault(); this.zoom(-1); }
    else if (e.key === 'Home') { e.preventDefault(); this.setCursor(this.start); }
    else if (e.key === 'End') { e.preventDefault(); this.setCursor(this.start + this.nr - 1); }
  }

  setCursor(pfn) {
    this.cursor = pfn;
    this.scrollToPfn(pfn, true);
    this.showInfo(pfn);
    this.schedule();
    if (this.onSelect) this.onSelect(pfn);
  }

  // Scrolls so the frame is visible (onlyIfNeeded) or at the top.
  scrollToPfn(pfn, onlyIfNeeded) {
    const r = Math.floor((pfn - this.start) / this.cols);
    const y = r * this.cell;
    const s = this.scroll;
    if (!onlyIfNeeded || y < s.scrollTop || y + this.cell > s.scrollTop + s.clientHeight) {
      s.scrollTop = Math.max(0, y - (onlyIfNeeded ? s.clientHeight / 2 : 0));
    }
    this.schedule();
  }

  zoneOf(pfn) {
    return this.zones.find((z) => pfn >= z.start && pfn < z.end);
  }

  describe(pfn) {
    const i = pfn - this.start;
    if (i < 0 || i >= this.nr) return null;
    const f = this.flags[i];
    const type = this.types[f & 0xf] || '?';
    const c = CATEGORIES[this.cat[i]];
    const names = Object.entries(PG).filter(([, b]) => f & b).map(([k]) => `PG_${k}`);
    const h = this.head[i] + this.start, o = this.ord[i];
    const z = this.zoneOf(pfn);
    let block = '';
    if (type === 'free') block = `free block of order ${o} at pfn 0x${h.toString(16)} (${1 << o} frames)`;
    else if (this.head[i] !== i || (f & PG.head)) block = `order-${o} block at pfn 0x${h.toString(16)}`;
    return { pfn, phys: pfn * 4096, type, category: c.key, label: c.label, flags: names, zone: z ? z.name : '', block };
  }

  showInfo(pfn) {
    const d = pfn >= 0 ? this.describe(pfn) : null;
    if (!d) {
      this.info.innerHTML = '<span class="muted">Hover or click a frame (or focus the map and use the arrow keys) to see its pfn and owner.</span>';
      return;
    }
    this.info.innerHTML = `<b>pfn 0x${d.pfn.toString(16)}</b> (${d.pfn}) · phys 0x${d.phys.toString(16)} · zone ${d.zone} · `
      + `owner <b>${d.label}</b>${d.block ? ' · ' + d.block : ''}${d.flags.length ? ' · ' + d.flags.join(' ') : ''}`;
    this.info.dataset.pfn = String(d.pfn);
    this.info.dataset.category = d.category;
  }

  // For tests and the keyboard cursor: the colour actually painted for a frame, read back.
  pixelAt(pfn) {
    this.scrollToPfn(pfn, true);
    this.draw();
    const i = pfn - this.start;
    const r = Math.floor(i / this.cols), c = i % this.cols;
    const dpr = window.devicePixelRatio || 1;
    const x = (GUTTER + c * this.cell + this.cell / 2) * dpr;
    const y = (this.view.yOff + (r - this.view.firstRow) * this.cell + this.cell / 2) * dpr;
    const d = this.ctx.getImageData(Math.floor(x), Math.floor(y), 1, 1).data;
    return '#' + [d[0], d[1], d[2]].map((v) => v.toString(16).padStart(2, '0')).join('');
  }
}

export function categoryColour(key) {
  const c = CATEGORIES[CAT_INDEX[key]];
  return c ? c.colour : null;
}
