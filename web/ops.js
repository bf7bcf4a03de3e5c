// Every simulator op the dashboard can drive, mirroring proto/vmsim/v1/vmsim.proto: the RPC
// method, the field of the `Op` oneof (for Apply batches and traces), and the request fields
// with their proto3 types. Forms, the trace editor and the trace parser are all built from it.

// Field kinds: u32/i32 are JSON numbers; u64 travels as a decimal string (proto3 JSON int64);
// str is text; enum lists the names the server accepts.
const ACCESS = ['ACCESS_READ', 'ACCESS_WRITE', 'ACCESS_EXEC'];

export const GROUPS = [
  ['Buddy allocator', ['alloc_pages', 'free_pages']],
  ['Slab', ['kmem_cache_create', 'kmem_cache_alloc', 'kmem_cache_free', 'kmem_cache_shrink',
    'kmem_cache_destroy', 'kmalloc', 'kfree']],
  ['vmalloc', ['vmalloc', 'vfree']],
  ['Processes', ['spawn', 'fork', 'vfork', 'clone', 'exit', 'exec', 'context_switch',
    'set_rlimit', 'set_oom_adj']],
  ['Address space', ['mmap', 'munmap', 'mprotect', 'brk', 'madvise', 'access', 'access_range']],
  ['Files', ['file_create', 'file_read', 'file_write', 'file_sync', 'file_delete']],
  ['Swap & reclaim', ['mkswap', 'swapon', 'swapoff', 'reclaim', 'drop_caches', 'tick',
    'set_swappiness']],
  ['Example driver', ['driver_open', 'driver_close']],
  ['Huge pages', ['set_nr_hugepages']],
];

// name: [Method, help, fields...]; a field is [name, kind, default, help].
export const OPS = {
  alloc_pages: ['AllocPages', 'alloc_pages(gfp, order): a 2^order block from the buddy allocator',
    ['order', 'u32', '0', '0..10'], ['gfp', 'u32', '0', '0 GFP_KERNEL, 0x1 DMA, 0x2 HIGHMEM, 0x4 DMA32, 0x60 ATOMIC']],
  free_pages: ['FreePages', '__free_pages(pfn, order)',
    ['pfn', 'u64', '', 'first frame of the block'], ['order', 'u32', '0', 'order it was allocated with']],
  kmem_cache_create: ['KmemCacheCreate', 'kmem_cache_create(name, size, align)',
    ['name', 'str', 'my_cache', ''], ['size', 'u32', '64', 'object size in bytes'], ['align', 'u32', '0', '0 = default']],
  kmem_cache_alloc: ['KmemCacheAlloc', 'kmem_cache_alloc(cache)', ['name', 'str', 'my_cache', '']],
  kmem_cache_free: ['KmemCacheFree', 'kmem_cache_free(cache, addr)',
    ['name', 'str', 'my_cache', ''], ['addr', 'u64', '', 'object address']],
  kmem_cache_shrink: ['KmemCacheShrink', 'kmem_cache_shrink(cache): release empty slabs', ['name', 'str', 'my_cache', '']],
  kmem_cache_destroy: ['KmemCacheDestroy', 'kmem_cache_destroy(cache)', ['name', 'str', 'my_cache', '']],
  kmalloc: ['Kmalloc', 'kmalloc(size, gfp)', ['size', 'u64', '128', 'bytes'], ['gfp', 'u32', '0', '']],
  kfree: ['Kfree', 'kfree(addr)', ['addr', 'u64', '', 'address kmalloc returned']],
  vmalloc: ['Vmalloc', 'vmalloc(size): virtually contiguous, physically scattered', ['size', 'u64', '16K', 'bytes']],
  vfree: ['Vfree', 'vfree(addr)', ['addr', 'u64', '', 'address vmalloc returned']],
  spawn: ['Spawn', 'start a new process', ['name', 'str', 'a.out', 'comm'],
    ['text', 'u64', '0', 'bytes, 0 = default'], ['data', 'u64', '0', ''], ['bss', 'u64', '0', ''], ['stack', 'u64', '0', '']],
  fork: ['Fork', 'fork(): copy the address space copy-on-write', ['pid', 'u32', '1', 'parent']],
  vfork: ['Vfork', 'vfork(): borrow the parent mm', ['pid', 'u32', '1', 'parent']],
  clone: ['Clone', 'clone(flags)', ['pid', 'u32', '1', 'parent'], ['flags', 'u32', '0x100', '0x100 CLONE_VM']],
  exit: ['Exit', 'exit(code)', ['pid', 'u32', '', ''], ['code', 'i32', '0', '']],
  exec: ['Exec', 'execve(): a fresh image', ['pid', 'u32', '', ''], ['name', 'str', 'a.out', ''],
    ['text', 'u64', '0', ''], ['data', 'u64', '0', ''], ['bss', 'u64', '0', ''], ['stack', 'u64', '0', '']],
  context_switch: ['ContextSwitch', 'switch the CPU to a task (TLB flush)', ['pid', 'u32', '1', '']],
  set_rlimit: ['SetRlimit', 'limit resident pages (0 = none)', ['pid', 'u32', '1', ''], ['pages', 'u64', '0', '']],
  set_oom_adj: ['SetOomAdj', 'oom_score_adj (-1000..1000)', ['pid', 'u32', '1', ''], ['oom_score_adj', 'i32', '0', '']],
  mmap: ['Mmap', 'mmap(addr, len, prot, flags, file, offset)', ['pid', 'u32', '1', ''],
    ['addr', 'u64', '0', '0 = kernel chooses'], ['len', 'u64', '64K', 'bytes'],
    ['prot', 'u32', '0x3', 'READ 0x1 WRITE 0x2 EXEC 0x4'], ['flags', 'u32', '0x22', 'SHARED 0x1 PRIVATE 0x2 FIXED 0x10 ANON 0x20 HUGETLB 0x40000'],
    ['file', 'u32', '0', 'inode or driver minor, 0 = anon'], ['offset', 'u64', '0', '']],
  munmap: ['Munmap', 'munmap(addr, len)', ['pid', 'u32', '1', ''], ['addr', 'u64', '', ''], ['len', 'u64', '4K', '']],
  mprotect: ['Mprotect', 'mprotect(addr, len, prot)', ['pid', 'u32', '1', ''], ['addr', 'u64', '', ''],
    ['len', 'u64', '4K', ''], ['prot', 'u32', '0x1', '']],
  brk: ['Brk', 'brk(addr): move the program break (0 = query)', ['pid', 'u32', '1', ''], ['addr', 'u64', '0', '']],
  madvise: ['Madvise', 'madvise(addr, len, advice)', ['pid', 'u32', '1', ''], ['addr', 'u64', '', ''],
    ['len', 'u64', '4K', ''], ['advice', 'u32', '4', '4 MADV_DONTNEED']],
  access: ['Access', 'one load/store/fetch: TLB, page walk, maybe a fault', ['pid', 'u32', '1', ''],
    ['addr', 'u64', '', 'user address'], ['kind', ACCESS, 'ACCESS_READ', '']],
  access_range: ['AccessRange', 'touch [addr, addr+len) every stride bytes', ['pid', 'u32', '1', ''],
    ['addr', 'u64', '', ''], ['len', 'u64', '64K', ''], ['kind', ACCESS, 'ACCESS_WRITE', ''], ['stride', 'u64', '0', '0 = every page']],
  file_create: ['FileCreate', 'create a simulated file', ['name', 'str', '/data/f1', 'absolute path'], ['size', 'u64', '1M', '']],
  file_read: ['FileRead', 'read(2) through the page cache', ['ino', 'u32', '12', 'inode file_create returned'], ['offset', 'u64', '0', ''], ['len', 'u64', '64K', '']],
  file_write: ['FileWrite', 'write(2): dirties page-cache pages', ['ino', 'u32', '12', 'inode file_create returned'], ['offset', 'u64', '0', ''], ['len', 'u64', '64K', '']],
  file_sync: ['FileSync', 'fsync(2): write back dirty pages', ['ino', 'u32', '12', 'inode file_create returned']],
  file_delete: ['FileDelete', 'unlink(2)', ['ino', 'u32', '12', 'inode file_create returned']],
  mkswap: ['Mkswap', 'mkswap: make a file a swap area', ['name', 'str', '/swapfile', 'a file made with file_create'], ['size', 'u64', '0', '0 = the whole file'], ['prio', 'i32', '0', '']],
  swapon: ['Swapon', 'swapon(name, prio)', ['name', 'str', '/swapfile', ''], ['prio', 'i32', '0', '0..32767']],
  swapoff: ['Swapoff', 'swapoff(name)', ['name', 'str', '/swapfile', '']],
  reclaim: ['Reclaim', 'try_to_free_pages(nr_pages)', ['nr_pages', 'u64', '32', '']],
  drop_caches: ['DropCaches', 'echo mode > drop_caches', ['mode', 'u32', '3', '1 page cache, 2 slab, 3 both']],
  tick: ['Tick', 'let kswapd and writeback run', ['n', 'u64', '1', 'ticks']],
  set_swappiness: ['SetSwappiness', 'vm.swappiness', ['swappiness', 'u32', '60', '0..200']],
  set_nr_hugepages: ['SetNrHugepages', 'vm.nr_hugepages: the pool of huge pages (2 MiB; 4 MiB on i386) mmap with HUGETLB 0x40000 uses',
    ['count', 'u64', '4', 'huge pages']],
  driver_open: ['DriverOpen', "the seed's driver: a vmalloc buffer mapped by a fault handler", ['size', 'u64', '16K', ''], ['minor', 'u32', '0', '']],
  driver_close: ['DriverClose', 'close the driver and free its buffer', ['minor', 'u32', '0', '']],
};

export function opInfo(name) {
  const o = OPS[name];
  if (!o) return null;
  const [method, help, ...fields] = o;
  return {
    name, method, help,
    fields: fields.map(([fname, kind, def, fhelp]) => ({ name: fname, kind, def, help: fhelp })),
  };
}

export function camel(s) {
  return s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
}

const UNITS = { K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n };

// Accepts 42, 0x2a, 4K/16M/1G (binary units, optional trailing B or iB), -3 for signed kinds.
export function parseNumber(text, kind, field) {
  const s = String(text).trim();
  const m = /^(-)?(0x[0-9a-f]+|\d+)\s*(?:([kmgt])(?:i?b)?)?$/i.exec(s);
  if (!m) throw new Error(`${field}: "${s}" is not a number (try 42, 0x2a or 16K)`);
  let v = BigInt(m[2]);
  if (m[3]) v *= UNITS[m[3].toUpperCase()];
  if (m[1]) {
    if (kind !== 'i32') throw new Error(`${field}: must not be negative`);
    v = -v;
  }
  const max = kind === 'u64' ? (1n << 64n) - 1n : kind === 'u32' ? (1n << 32n) - 1n : (1n << 31n) - 1n;
  const min = kind === 'i32' ? -(1n << 31n) : 0n;
  if (v > max || v < min) throw new Error(`${field}: ${s} is out of range for ${kind}`);
  return kind === 'u64' ? v.toString() : Number(v);
}

// Builds the proto3 JSON request body for an op from {field: text}.
export function buildRequest(name, values) {
  const info = opInfo(name);
  if (!info) throw new Error(`unknown op "${name}"`);
  const body = {};
  for (const f of info.fields) {
    let v = values[f.name];
    if (v === undefined || v === '') v = f.def;
    if (v === undefined || v === '') throw new Error(`${name}: ${f.name} is required`);
    if (Array.isArray(f.kind)) {
      const up = String(v).toUpperCase();
      const full = f.kind.find((e) => e === up || e.endsWith('_' + up));
      if (!full) throw new Error(`${f.name}: "${v}" is not one of ${f.kind.join(', ')}`);
      body[camel(f.name)] = full;
    } else if (f.kind === 'str') {
      body[camel(f.name)] = String(v);
    } else {
      body[camel(f.name)] = parseNumber(v, f.kind, f.name);
    }
  }
  for (const k of Object.keys(values)) {
    if (!info.fields.some((f) => f.name === k)) throw new Error(`${name}: no field "${k}"`);
  }
  return { info, body };
}

// Trace lines: `op field=value ...`, `#` comments. Example: `alloc_pages order=3`.
export function parseTraceLine(line) {
  const s = line.replace(/#.*/, '').trim();
  if (!s) return null;
  const words = s.split(/\s+/);
  const name = words[0];
  const values = {};
  for (const w of words.slice(1)) {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new Error(`"${w}": write field=value`);
    values[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return buildRequest(name, values);
}

// The Op oneof form of a request, for Apply batches.
export function toOp(name, body) {
  return { [camel(name)]: body };
}
