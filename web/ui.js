// Small DOM helpers shared by the views: escaping, number formats, tables, toasts.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

export function kib(k) {
  if (k >= 1048576) return `${(k / 1048576).toFixed(k % 1048576 ? 1 : 0)} GiB`;
  if (k >= 1024) return `${(k / 1024).toFixed(k % 1024 ? 1 : 0)} MiB`;
  return `${k} KiB`;
}

export function bytesText(b) {
  return kib(Number(b) / 1024);
}

export function hexs(v) {
  return '0x' + BigInt(v).toString(16);
}

// A table from column headers and rows of cells (strings are escaped; {html} is not).
export function table(el, head, rows, opts = {}) {
  const cell = (c) => (c && typeof c === 'object' && 'html' in c ? c.html : esc(c ?? ''));
  const num = opts.numeric || [];
  el.innerHTML = `<thead><tr>${head.map((h, i) => `<th scope="col"${num.includes(i) ? ' class="num"' : ''}>${esc(h)}</th>`).join('')}</tr></thead>`
    + `<tbody>${rows.length ? rows.map((r, ri) => `<tr${opts.rowAttr ? ' ' + opts.rowAttr(ri) : ''}>${r.map((c, i) => `<td${num.includes(i) ? ' class="num"' : ''}>${cell(c)}</td>`).join('')}</tr>`).join('')
      : `<tr><td colspan="${head.length}" class="muted">${esc(opts.empty || 'none')}</td></tr>`}</tbody>`;
}

// Errors as the server words them: "code: msg".
export function toast(err, kind = 'error') {
  const box = document.getElementById('toasts');
  const div = document.createElement('div');
  div.className = `toast ${kind}`;
  if (err && err.code) {
    div.innerHTML = `<b>${esc(err.code)}</b> ${esc(err.msg)}${err.method ? ` <span class="muted">(${esc(err.method)})</span>` : ''}`;
    div.dataset.code = err.code;
  } else {
    div.textContent = err && err.message ? err.message : String(err);
  }
  const close = document.createElement('button');
  close.type = 'button';
  close.className = 'close';
  close.setAttribute('aria-label', 'dismiss');
  close.textContent = '×';
  close.onclick = () => div.remove();
  div.appendChild(close);
  box.appendChild(div);
  setTimeout(() => div.remove(), kind === 'error' ? 12000 : 4000);
  while (box.children.length > 4) box.firstChild.remove();
}

// A sparkline of values over time in an inline SVG.
export function sparkline(values, { width = 220, height = 48, colour = '#2563eb' } = {}) {
  if (values.length < 2) return `<svg width="${width}" height="${height}" aria-hidden="true"></svg>`;
  const min = Math.min(...values), max = Math.max(...values);
  const span = max - min || 1;
  const pts = values.map((v, i) => `${((i / (values.length - 1)) * (width - 2) + 1).toFixed(1)},${(height - 2 - ((v - min) / span) * (height - 4)).toFixed(1)}`);
  return `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" aria-hidden="true">`
    + `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${pts.join(' ')}"/></svg>`;
}
