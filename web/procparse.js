// Parsers for the kernel's /proc text formats, as the server renders them byte for byte.
// The dashboard shows the text itself and draws pictures from these parsed numbers, so the
// picture and the text a student would see on a real machine always agree.

// "Node 0, zone   Normal   1   2 ..." -> [{node, zone, free: [11 numbers]}]
export function parseBuddyinfo(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^Node\s+(\d+),\s*zone\s+(\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    out.push({ node: +m[1], zone: m[2], free: m[3].trim().split(/\s+/).map(Number) });
  }
  return out;
}

// "MemTotal:  65536 kB" -> {MemTotal: 65536, ...} (kB values; HugePages_* are counts)
export function parseMeminfo(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([^:]+):\s+(\d+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

// /proc/vmstat: "name value" per line.
export function parseVmstat(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(-?\d+)$/.exec(line.trim());
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

// /proc/slabinfo version 2.1.
export function parseSlabinfo(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('slabinfo') || line.startsWith('#')) continue;
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*:\s*tunables\s+(\d+)\s+(\d+)\s+(\d+)\s*:\s*slabdata\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    if (!m) continue;
    out.push({
      name: m[1], activeObjs: +m[2], numObjs: +m[3], objsize: +m[4], objperslab: +m[5],
      pagesperslab: +m[6], activeSlabs: +m[10], numSlabs: +m[11],
    });
  }
  return out;
}

// /proc/vmallocinfo: "0xstart-0xend  size caller pages=N vmalloc N0=N" (size includes the guard page).
export function parseVmallocinfo(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^0x([0-9a-f]+)-0x([0-9a-f]+)\s+(\d+)\s+(\S+)?(.*)$/.exec(line.trim());
    if (!m) continue;
    const rest = (m[5] || '').trim();
    const pages = /pages=(\d+)/.exec(rest);
    const phys = /phys=0x([0-9a-f]+)/.exec(rest);
    const kinds = ['vmalloc', 'vmap', 'ioremap', 'user', 'vpages', 'unpurged', 'vm_map_ram'];
    out.push({
      start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), size: Number(m[3]), caller: m[4] || '',
      pages: pages ? Number(pages[1]) : 0, phys: phys ? BigInt('0x' + phys[1]) : null,
      kind: kinds.find((k) => new RegExp(`(^|\\s)${k}(\\s|$)`).test(rest)) || '', text: line,
    });
  }
  return out;
}

// /proc/PID/maps: "start-end perms offset dev inode   path"
export function parseMaps(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})\s+([0-9a-f]+)\s+(\S+)\s+(\d+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({
      start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), perms: m[3], offset: BigInt('0x' + m[4]),
      dev: m[5], inode: +m[6], path: m[7].trim(), text: line,
    });
  }
  return out;
}

// /proc/swaps.
export function parseSwaps(text) {
  const out = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    out.push({ name: f[0], type: f[1], size: +f[2], used: +f[3], prio: +f[4] });
  }
  return out;
}

// /proc/PID/status: "Key:\tvalue" -> {Key: 'value'}.
export function parseStatus(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const c = line.indexOf(':');
    if (c > 0) out[line.slice(0, c)] = line.slice(c + 1).trim();
  }
  return out;
}
