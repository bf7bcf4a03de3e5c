#!/usr/bin/env node
// Browser tests of the vmsim dashboard: starts a real vmsimd on an ephemeral loopback port,
// drives Debian's chromium through playwright-core, and checks that what the page draws and
// lists is what the server says (frame colours read back from the canvas, table cells against
// the server's /proc text, SSE events, Twirp errors). Screenshots of every view go to --out.
//
// usage: node run.mjs --vmsimd build/server/vmsimd --web web --out build/tests/browser/out

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) => (v.startsWith('--') ? [...a, [v.slice(2), all[i + 1]]] : a), []));
const VMSIMD = resolve(args.vmsimd || 'build/server/vmsimd');
const WEB = resolve(args.web || 'web');
const OUT = resolve(args.out || 'browser-out');
const CHROMIUM = process.env.VMSIM_CHROMIUM || '/usr/bin/chromium';

function die(msg) {
  console.error(`browser test: ${msg}`);
  process.exit(1);
}

// Missing pieces fail loudly: a browser test that cannot run must not pass.
try { accessSync(CHROMIUM, constants.X_OK); } catch { die(`chromium not found at ${CHROMIUM}: install Debian's chromium (scripts/setup.sh does) or set VMSIM_CHROMIUM`); }
if (!existsSync(VMSIMD)) die(`vmsimd not found at ${VMSIMD}: build first`);
if (!existsSync(join(WEB, 'index.html'))) die(`no dashboard at ${WEB}`);
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  die(`playwright-core is not installed in tests/browser (run scripts/setup.sh, or npm ci in tests/browser): ${e.message}`);
}

mkdirSync(OUT, { recursive: true });

// ---------------------------------------------------------------------------------------------
// The server

async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
  });
}

const port = await freePort();
const BASE = `http://127.0.0.1:${port}`;
const dataDir = mkdtempSync(join(tmpdir(), 'vmsim-browser-'));
const serverLog = [];
const serverArgs = ['--open', '--listen', `127.0.0.1:${port}`, '--web', WEB];
// a server that keeps history gets a throwaway database (time travel works on it too)
if (spawnSync(VMSIMD, ['--help'], { encoding: 'utf8' }).stdout.includes('--db')) serverArgs.push('--db', ':memory:');
if (args['server-args']) serverArgs.push(...args['server-args'].split(' ').map((a) => a.replace('{dir}', dataDir)));
const server = spawn(VMSIMD, serverArgs, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dataDir });
server.stdout.on('data', (d) => serverLog.push(String(d)));
server.stderr.on('data', (d) => serverLog.push(String(d)));
let serverExited = null;
server.on('exit', (code, sig) => { serverExited = `exit ${code ?? sig}`; });

let browser = null;
async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  if (!serverExited) server.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
}

async function waitHealthy() {
  for (let i = 0; i < 100; i++) {
    if (serverExited) throw new Error(`vmsimd ${serverExited}: ${serverLog.join('')}`);
    try {
      const r = await fetch(`${BASE}/healthz`);
      if (r.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('vmsimd did not become healthy in 10 s');
}

// The server's own answers, for comparing with what the page shows.
async function api(method, body) {
  const r = await fetch(`${BASE}/twirp/vmsim.v1.VmSim/${method}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  const j = await r.json();
  if (!r.ok) { const e = new Error(`${method}: ${j.code}: ${j.msg}`); e.code = j.code; throw e; }
  return j;
}

async function has(method) {
  try {
    await api(method, {});
    return true;
  } catch (e) {
    return e.code !== 'bad_route';
  }
}

// ---------------------------------------------------------------------------------------------
// A tiny harness: named steps run in order, the first failure stops the run with a screenshot.

let page;
const results = [];
let stepNo = 0;

function assert(cond, msg) {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

function eq(actual, expected, msg) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${msg}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

async function step(name, fn) {
  stepNo++;
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok ${stepNo} - ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    console.log(`not ok ${stepNo} - ${name}\n  ${String(e.stack || e).split('\n').join('\n  ')}`);
    if (page) await page.screenshot({ path: join(OUT, `FAILED-${stepNo}.png`), fullPage: true }).catch(() => {});
    console.log(`  screenshot: ${join(OUT, `FAILED-${stepNo}.png`)}`);
    console.log(`  vmsimd log (tail):\n  ${serverLog.join('').split('\n').slice(-20).join('\n  ')}`);
    console.log(`  page console (tail):\n  ${consoleLines.slice(-20).join('\n  ')}`);
    await cleanup();
    process.exit(1);
  }
}

function skip(name, why) {
  stepNo++;
  console.log(`ok ${stepNo} - ${name} # SKIP ${why}`);
}

async function shot(name) {
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
}

async function tab(name) {
  await page.click(`#tab-${name}`);
  await settle();
}

// Waits until no refresh is running and the page shows the server's current seq.
async function settle(id) {
  const mid = id || machineId;
  const seq = mid ? (await api('GetMachine', { machineId: mid })).seq ?? '0' : null;
  await page.waitForFunction((s) => {
    const a = window.vmsim;
    return a && !a.refreshing && !a.dirty && (s === null || document.body.dataset.seq === String(s));
  }, seq, { timeout: 10000 });
}

// Fills an op form (in the visible panel) and submits it; returns the result box's data.
async function runForm(op, values) {
  const form = page.locator(`[role=tabpanel]:not([hidden]) form.opform[data-op="${op}"]`).first();
  const details = form.locator('xpath=..');
  if (!(await details.evaluate((d) => d.open))) await details.locator('summary').click();
  for (const [k, v] of Object.entries(values)) {
    const input = form.locator(`[name="${k}"]`);
    if ((await input.evaluate((e) => e.tagName)) === 'SELECT') await input.selectOption(String(v));
    else await input.fill(String(v));
  }
  await form.locator('button[type=submit]').click();
  await page.waitForSelector(`#result .res[data-op="${op}"], #result .res.err`);
  await settle();
  return page.evaluate(() => {
    const r = document.querySelector('#result .res');
    return { ok: r.classList.contains('ok'), value: r.dataset.value, code: r.dataset.code, text: r.textContent };
  });
}

// Category of a frame computed here from the raw FrameMap, independently of the page's code.
function decodeFrames(fm) {
  const flags = Buffer.from(fm.flags || '', 'base64');
  const orders = Buffer.from(fm.orders || '', 'base64');
  const count = Number(fm.count || fm.nrFrames);
  const types = fm.pageTypes;
  const out = [];
  let end = 0, order = 0;
  for (let i = 0; i < count; i++) {
    const f = flags[2 * i] | (flags[2 * i + 1] << 8);
    if (orders[i] !== 255) { order = orders[i]; end = i + (1 << order); }
    const t = types[f & 0xf];
    let cat = t;
    if (t === 'free') cat = `free${i < end ? order : 0}`;
    else if (f & 0x800) cat = 'swapcache';
    else if (f & 0x200) cat = 'dirty';
    out.push(cat);
  }
  return out;
}

async function pixel(pfn) {
  return page.evaluate((p) => window.vmsim.frameMap.pixelAt(p), pfn);
}

async function colourOf(cat) {
  return page.evaluate((c) => window.vmsim.categoryColour(c), cat);
}

// ---------------------------------------------------------------------------------------------

// The dashboard's op table (web/ops.js) against the wire contract: every form sends exactly the
// fields of its request message, under the RPC and Op oneof field the proto names.
{
  const src = readFileSync(join(WEB, 'ops.js'), 'utf8');
  const tmp = mkdtempSync(join(tmpdir(), 'vmsim-ops-'));
  writeFileSync(join(tmp, 'ops.mjs'), src);
  const { OPS } = await import(join(tmp, 'ops.mjs'));
  rmSync(tmp, { recursive: true, force: true });
  const proto = readFileSync(resolve(WEB, '..', 'proto', 'vmsim', 'v1', 'vmsim.proto'), 'utf8');
  const msgs = {};
  for (const m of proto.matchAll(/message (\w+) \{([\s\S]*?)\n\}/g)) {
    msgs[m[1]] = [...m[2].matchAll(/^\s+(?:repeated\s+)?(\w+)\s+(\w+)\s*=\s*\d+;/gm)].map((f) => ({ type: f[1], name: f[2] }));
  }
  const rpcs = Object.fromEntries([...proto.matchAll(/rpc (\w+)\((\w+)\) returns/g)].map((m) => [m[1], m[2]]));
  const oneof = msgs.Op || [];
  const kinds = { u32: ['uint32'], u64: ['uint64'], i32: ['int32'], str: ['string'] };
  const problems = [];
  for (const [name, [method, , ...fields]] of Object.entries(OPS)) {
    const req = rpcs[method];
    if (!req) { problems.push(`${name}: no rpc ${method}`); continue; }
    const pf = msgs[req].filter((f) => f.name !== 'machine_id');
    if (pf.length !== fields.length) problems.push(`${name}: ${fields.length} fields, proto has ${pf.length}`);
    for (const [fname, kind] of fields) {
      const p = pf.find((f) => f.name === fname);
      if (!p) problems.push(`${name}.${fname}: not in ${req}`);
      else if (Array.isArray(kind) ? p.type !== 'AccessKind' : !kinds[kind].includes(p.type)) problems.push(`${name}.${fname}: ${kind} vs ${p.type}`);
    }
    if (!oneof.some((f) => f.type === req && f.name === name)) problems.push(`${name}: not the Op field for ${req}`);
  }
  stepNo++;
  if (problems.length) {
    console.log(`not ok ${stepNo} - the dashboard's op forms match vmsim.proto\n  ${problems.join('\n  ')}`);
    await cleanup();
    process.exit(1);
  }
  console.log(`ok ${stepNo} - the dashboard's ${Object.keys(OPS).length} op forms match vmsim.proto`);
}

let machineId = null;
const consoleLines = [];
const pageErrors = [];

try {
  await waitHealthy();
  const profile = mkdtempSync(join(tmpdir(), 'vmsim-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
    viewport: { width: 1400, height: 1000 },
  });
  page = browser.pages()[0] || (await browser.newPage());
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('dialog', (d) => d.accept());
} catch (e) {
  console.error(`browser test: setup failed: ${e.message}`);
  console.error(serverLog.join(''));
  await cleanup();
  process.exit(1);
}

await step('the dashboard loads from vmsimd with no script errors', async () => {
  await page.goto(BASE + '/');
  await page.waitForSelector('#conn.ok', { timeout: 10000 });
  eq(await page.title(), 'vmsim dashboard', 'title');
  eq(pageErrors, [], 'page errors');
  await shot('01-empty');
});

await step('creating a machine from the form lists it and draws every frame', async () => {
  await page.fill('#create-form [name=name]', 'browser-lab');
  await page.selectOption('#create-form [name=ram]', '16M');
  await page.click('#create-form button[type=submit]');
  await page.waitForSelector('.mbtn.current');
  const list = await api('ListMachines', {});
  const m = list.machines.find((x) => x.name === 'browser-lab');
  assert(m, 'server lists the new machine');
  machineId = m.id;
  eq(m.config.ramBytes, String(16 << 20), 'RAM the server booted');
  await settle();
  eq(await page.getAttribute('#framemap canvas', 'data-frames'), '4096', 'frames drawn');
  eq(await page.textContent(`.mbtn[data-id="${machineId}"] b`), 'browser-lab', 'list entry');
  await shot('02-memory-map');
});

await step('every frame colour on the canvas matches the server frame map', async () => {
  const fm = await api('FrameMap', { machineId });
  const cats = decodeFrames(fm);
  // one frame of each category present, plus the first and last frame
  const seen = new Map();
  cats.forEach((c, i) => { if (!seen.has(c)) seen.set(c, i); });
  const probes = [...seen.entries(), [cats[0], 0], [cats[cats.length - 1], cats.length - 1]];
  assert(seen.has('reserved') && [...seen.keys()].some((k) => k.startsWith('free')), 'a fresh machine has reserved and free frames');
  for (const [cat, pfn] of probes) {
    eq(await pixel(pfn), await colourOf(cat), `colour of pfn ${pfn} (${cat})`);
  }
  // the legend counts what the server counts
  const reserved = cats.filter((c) => c === 'reserved').length;
  const legend = await page.textContent('#framemap .fm-legend [data-cat="reserved"]');
  assert(legend.includes(`(${reserved})`), `legend shows ${reserved} reserved frames: ${legend}`);
});

await step('hovering a frame shows its pfn and owner', async () => {
  const box = await page.locator('#framemap canvas').boundingBox();
  await page.mouse.move(box.x + 64 + 2, box.y + 2); // first cell after the gutter
  await page.waitForFunction(() => document.querySelector('.fm-info').dataset.pfn !== undefined);
  const info = await page.textContent('.fm-info');
  assert(/pfn 0x0 \(0\)/.test(info), `info names pfn 0: ${info}`);
  assert(/owner reserved/.test(info), `info names the owner: ${info}`);
});

let allocPfn;
await step('alloc_pages from the UI paints the block as kernel memory and updates buddyinfo', async () => {
  const before = await api('Proc', { machineId, path: 'buddyinfo' });
  const r = await runForm('alloc_pages', { order: '3', gfp: '0' });
  assert(r.ok, `alloc_pages succeeded: ${r.text}`);
  allocPfn = Number(r.value);
  const fm = decodeFrames(await api('FrameMap', { machineId }));
  for (const p of [allocPfn, allocPfn + 7]) {
    eq(fm[p], 'kernel', `server says pfn ${p} is kernel`);
    eq(await pixel(p), await colourOf('kernel'), `canvas colour of pfn ${p}`);
  }
  const after = await api('Proc', { machineId, path: 'buddyinfo' });
  assert(after.text !== before.text, 'buddyinfo changed');
  await tab('buddy');
  eq(await page.textContent('#buddyinfo'), after.text, '/proc/buddyinfo text shown verbatim');
  const zi = await api('Proc', { machineId, path: 'zoneinfo' });
  assert(/pages free\s+\d+/.test(zi.text), 'zoneinfo has the zones\' free pages');
  eq(await page.textContent('#zoneinfo'), zi.text, '/proc/zoneinfo text shown verbatim');
  // histogram bars carry the same counts
  const zoneLine = after.text.split('\n').find((l) => /zone\s+DMA32/.test(l)) || after.text.split('\n')[0];
  const zone = /zone\s+(\S+)/.exec(zoneLine)[1];
  const nums = zoneLine.replace(/^.*zone\s+\S+\s+/, '').trim().split(/\s+/);
  const bars = await page.$$eval(`.zone-hist[data-zone="${zone}"] .hbar`, (els) => els.map((e) => e.dataset.count));
  eq(bars, nums, `histogram of zone ${zone}`);
  await page.waitForSelector('#buddy-chain .cstep');
  const chain = await page.textContent('#buddy-chain');
  assert(/split order/.test(chain) || /take an order-3/.test(chain), `split chain shown: ${chain}`);
  await page.waitForTimeout(1500);
  await shot('03-buddy');
});

await step('free_pages (filled in from the allocation) merges the block back', async () => {
  await tab('memory');
  const pfnField = await page.inputValue('#panel-memory form.opform[data-op="free_pages"] [name=pfn]');
  eq(Number(pfnField), allocPfn, 'free_pages pfn filled from alloc_pages');
  const r = await runForm('free_pages', {});
  assert(r.ok, `free_pages succeeded: ${r.text}`);
  const fm = decodeFrames(await api('FrameMap', { machineId }));
  assert(fm[allocPfn].startsWith('free'), 'server says the block is free');
  eq(await pixel(allocPfn), await colourOf(fm[allocPfn]), 'canvas colour after free');
});

await step('a server error is shown with its Twirp code and message', async () => {
  const r = await runForm('free_pages', { pfn: String(allocPfn), order: '3' });
  assert(!r.ok, 'double free is refused');
  eq(r.code, 'invalid_argument', 'Twirp code');
  const toast = await page.textContent('#toasts .toast.error');
  assert(/invalid_argument/.test(toast) && /already free|double free/.test(toast), `toast shows the server message: ${toast}`);
  await shot('04-error');
  await page.keyboard.press('Escape');
});

await step('events arrive over SSE, including ops made by someone else', async () => {
  await tab('events');
  await page.waitForSelector('#ev-state[data-state=open]');
  const alloc = await api('AllocPages', { machineId, order: 1 });
  const lastId = alloc.lastEvent;
  await page.waitForSelector(`#events li[data-id="${lastId}"]`, { timeout: 5000 });
  const text = await page.textContent(`#events li[data-id="${lastId}"] .etext`);
  const ev = await api('Events', { machineId, afterId: String(Number(lastId) - 1), limit: 1 });
  eq(text, ev.events[0].text, 'event text as the server renders it');
  // the frame map follows without any click
  await settle();
  eq(await page.getAttribute('#framemap canvas', 'data-seq'), alloc.seq, 'frame map redrawn at the new seq');
  await shot('05-events');
});

await step('the trace editor steps, runs and pauses', async () => {
  await tab('drive');
  await page.fill('#trace', 'alloc_pages order=2\nalloc_pages order=0\n# comment\nfree_pages pfn=PFN1 order=2\nalloc_pages order=11\n');
  await page.click('#tr-rewind');
  const seq0 = Number((await api('GetMachine', { machineId })).seq);
  await page.click('#tr-step');
  await page.waitForFunction(() => document.querySelector('#trace').dataset.pc === '1');
  await settle();
  eq(Number((await api('GetMachine', { machineId })).seq), seq0 + 1, 'one step = one op');
  await page.fill('#tr-delay', '50');
  await page.click('#tr-run');
  await page.waitForFunction(() => /failed/.test(document.querySelector('#tr-state').textContent), null, { timeout: 10000 });
  await settle();
  eq(Number((await api('GetMachine', { machineId })).seq), seq0 + 3, 'ran to the failing line');
  eq(await page.textContent('#tr-state'), 'line 5 failed', 'stops at the bad order');
  const err = await page.textContent('#result .res.err');
  assert(/order 11 is too big/.test(err), `server's message shown: ${err}`);
  await shot('06-drive');
});

await step('the example trace runs to its end and paints file cache and slab frames', async () => {
  await page.click('#tr-example');
  await page.fill('#tr-delay', '0');
  const seq0 = Number((await api('GetMachine', { machineId })).seq);
  const ops = (await page.inputValue('#trace')).split('\n').filter((l) => l.replace(/#.*/, '').trim()).length;
  await page.click('#tr-run');
  await page.waitForFunction(() => /end of trace|failed/.test(document.querySelector('#tr-state').textContent), null, { timeout: 20000 });
  eq(await page.textContent('#tr-state'), 'end of trace', 'trace state');
  await settle();
  eq(Number((await api('GetMachine', { machineId })).seq), seq0 + ops, 'one op per trace line');
  await tab('memory');
  const cats = decodeFrames(await api('FrameMap', { machineId }));
  for (const cat of ['file', 'slab', 'dirty']) {
    const pfn = cats.indexOf(cat);
    assert(pfn >= 0, `server has a ${cat} frame`);
    eq(await pixel(pfn), await colourOf(cat), `colour of ${cat} pfn ${pfn}`);
    const count = cats.filter((c) => c === cat).length;
    assert((await page.textContent(`.fm-legend [data-cat="${cat}"]`)).includes(`(${count})`), `legend counts ${count} ${cat} frames`);
  }
  await page.evaluate(() => { window.vmsim.frameMap.scroll.scrollTop = 0; window.vmsim.frameMap.draw(); });
  await page.keyboard.press('Escape'); // dismiss earlier toasts for the picture
  await shot('dashboard');
  await page.click('.fm-legend [data-cat="slab"] button');
  eq(await page.getAttribute('.fm-legend [data-cat="slab"] button', 'aria-pressed'), 'true', 'legend entry outlines its frames');
  await shot('dashboard-slab-outlined');
  await page.click('.fm-legend [data-cat="slab"] button');
  eq(await page.getAttribute('.fm-legend [data-cat="slab"] button', 'aria-pressed'), 'false', 'and toggles off');
  await tab('reclaim');
  const swaps = (await api('Proc', { machineId, path: 'swaps' })).text;
  assert(/\/swapfile/.test(swaps), 'server has the swap area');
  eq(await page.textContent('#swaps-table tbody tr td:first-child'), '/swapfile', 'swap table row');
});

const views = (await api('Proc', { machineId, path: 'buddyinfo' })).views || [];

if (views.includes('slabinfo')) {
  await step('kmalloc from the UI shows up in the slab table as the server counts it', async () => {
    await tab('slab');
    const r = await runForm('kmalloc', { size: '100', gfp: '0' });
    assert(r.ok, `kmalloc succeeded: ${r.text}`);
    const text = (await api('Proc', { machineId, path: 'slabinfo' })).text;
    const line = text.split('\n').find((l) => l.startsWith('kmalloc-128 '));
    assert(line, 'server has kmalloc-128');
    const active = line.trim().split(/\s+/)[1];
    assert(Number(active) >= 1, 'one object active');
    eq(await page.textContent('#slab-table tr[data-cache="kmalloc-128"] td:nth-child(2)'), active, 'active objs cell');
    await shot('07-slab');
  });
} else skip('slab view', 'server has no /proc/slabinfo');

if (views.includes('vmallocinfo')) {
  await step('vmalloc from the UI draws an area with its guard page', async () => {
    await tab('vmalloc');
    const r = await runForm('vmalloc', { size: '16K' });
    assert(r.ok, `vmalloc succeeded: ${r.text}`);
    const text = (await api('Proc', { machineId, path: 'vmallocinfo' })).text;
    const rows = text.split('\n').filter((l) => l.startsWith('0x'));
    eq(await page.locator('#vmalloc-table tbody tr').count(), rows.length, 'one row per area');
    assert(await page.locator('.varea .vguard').count() >= 1, 'guard page drawn');
    await shot('08-vmalloc');
  });
} else skip('vmalloc view', 'server has no /proc/vmallocinfo');

// Whether the core implements an op yet: try it on a scratch machine.
async function opWorks(method, body) {
  const m = await api('CreateMachine', { name: 'probe', config: { ramBytes: String(8 << 20) } });
  try {
    await api(method, { machineId: m.id, ...body });
    return true;
  } catch (e) {
    return false;
  } finally {
    await api('DeleteMachine', { machineId: m.id });
  }
}

if (await opWorks('Spawn', { name: 'probe' })) {
  await step('processes: spawn, mmap, touch, fork and a COW fault, all from the UI', async () => {
    await tab('procs');
    const r = await runForm('spawn', { name: 'demo' });
    assert(r.ok, `spawn: ${r.text}`);
    const pid = Number(r.value);
    await page.waitForSelector(`#pid-select option[value="${pid}"]`, { state: 'attached' });
    eq(await page.inputValue('#panel-procs form.opform[data-op="mmap"] [name=pid]'), String(pid), 'pid fed into the mmap form');
    const mm = await runForm('mmap', { len: '64K' });
    assert(mm.ok, `mmap: ${mm.text}`);
    const addr = BigInt(mm.value);
    eq(await page.inputValue('#panel-procs form.opform[data-op="access_range"] [name=addr]'), '0x' + addr.toString(16), 'mapped address fed into access_range');
    const before = decodeFrames(await api('FrameMap', { machineId })).filter((c) => c === 'anon').length;
    const ar = await runForm('access_range', { len: '16K', kind: 'ACCESS_WRITE' });
    assert(ar.ok && /4 faults/.test(ar.text), `four write faults: ${ar.text}`);
    const cats = decodeFrames(await api('FrameMap', { machineId }));
    eq(cats.filter((c) => c === 'anon').length, before + 4, 'server has four more anon frames');
    assert((await page.textContent('.fm-legend [data-cat="anon"]')).includes(`(${before + 4})`), 'legend counts them');
    // the VMA table is /proc/PID/maps, with Rss from smaps
    const maps = (await api('Proc', { machineId, path: `${pid}/maps` })).text.split('\n').filter(Boolean);
    eq(await page.locator('#maps-table tbody tr').count(), maps.length, 'one row per VMA');
    const row = page.locator(`#maps-table tr[data-start="0x${addr.toString(16)}"]`);
    eq(await row.locator('td:nth-child(5)').textContent(), '16 kB', 'Rss of the touched area');
    // fork: the child shares the four pages copy-on-write
    const fk = await runForm('fork', { pid: String(pid) });
    assert(fk.ok, `fork: ${fk.text}`);
    const child = Number(fk.value);
    await page.waitForSelector(`#pid-select option[value="${child}"]`, { state: 'attached' });
    await page.selectOption('#pid-select', String(child));
    await settle();
    eq(await page.inputValue('#pid-select'), String(child), 'the child stays selected');
    assert((await page.textContent('#proc-summary')).includes('comm demo'), 'child runs the same program');
    const crow = page.locator(`#maps-table tr[data-start="0x${addr.toString(16)}"]`);
    eq(await crow.locator('td:nth-child(6)').textContent(), '16 kB COW', 'child shares the pages copy-on-write');
    await shot('09-processes');
    // click the area, write to it: the walk shows the COW fault and the new PTE's bits
    await crow.locator('button.addr').click();
    await page.waitForSelector('#addr-split .sp.pgd');
    eq(await page.textContent('#addr-split .sp.pte b'), String(Number((addr >> 12n) & 511n)), 'pte index of the address');
    await page.selectOption('#walk-form [name=kind]', 'ACCESS_WRITE');
    await page.click('#walk-form button[type=submit]');
    await page.waitForSelector('#walk p b');
    eq(await page.textContent('#walk p b'), 'FAULT_COW', 'write to a shared page is a COW fault');
    const csm = (await api('Proc', { machineId, path: `${child}/smaps` })).text;
    const area = csm.slice(csm.indexOf(addr.toString(16) + '-'));
    assert(/Private_Dirty:\s+4 kB/.test(area), 'the copy is private to the child');
    const pte = await page.textContent('#walk .walk-levels .pte');
    assert(/RW/.test(pte) && /DIRTY/.test(pte) && /PRESENT/.test(pte), `new PTE is present, writable and dirty: ${pte}`);
    await settle();
    eq(await crow.locator('td:nth-child(6)').textContent(), '12 kB COW', 'one page less shared after the copy');
    // page tables and kernel stacks got their own colours
    await tab('memory');
    const now = decodeFrames(await api('FrameMap', { machineId }));
    for (const cat of ['pgtable', 'kstack', 'anon']) {
      const p = now.indexOf(cat);
      assert(p >= 0, `server has a ${cat} frame`);
      eq(await pixel(p), await colourOf(cat), `colour of ${cat} pfn ${p}`);
    }
    assert(!(await page.$('.fm-legend [data-cat="other"]')), 'every page type has its own colour');
    await tab('procs');
    await shot('09b-page-walk');
  });
} else skip('process view', 'server has no processes');

if (await has('ListExercises')) {
  await step('exercises: a generated question, a wrong answer graded, then the right one', async () => {
    await tab('exercises');
    await page.waitForSelector('#ex-new select[name=topic] option[value="buddy"]', { state: 'attached' });
    await page.selectOption('#ex-new [name=topic]', 'buddy');
    await page.fill('#ex-new [name=seed]', '7');
    await page.click('#ex-new button');
    await page.waitForSelector('.question-text');
    const q = await api('NewExercise', { topic: 'buddy', seed: '7' });
    eq(await page.textContent('.question-text'), q.question, 'question text as generated');
    eq(await page.locator('#ex-answer input').count(), q.fields.length, 'one input per answer field');
    for (let i = 0; i < q.fields.length; i++) await page.fill(`#ex-f${i}`, '0x1');
    await page.click('#ex-answer button[type=submit]');
    await page.waitForSelector('.verdict');
    eq(await page.getAttribute('.verdict', 'data-correct'), 'false', 'wrong answer graded wrong');
    // the right answer, read from the server's worked solution
    const sol = await api('SolveExercise', { topic: 'buddy', seed: '7' });
    const pairs = sol.answers.map((a) => [a.name, a.value]);
    for (const [k, v] of pairs) await page.fill(`#ex-answer [name="${k}"]`, v);
    await page.click('#ex-answer button[type=submit]');
    await page.waitForSelector('.verdict[data-correct=true]');
    // "Show the solution" is SolveExercise: allowed on an --open server
    await page.click('#ex-reveal');
    await page.waitForSelector('#ex-verdict .verdict b:text-is("Solution")');
    eq(await page.textContent('#ex-verdict .solution'), (await api('SolveExercise', { topic: 'buddy', seed: '7' })).solution, 'solution as served');
    await shot('13-exercises');
  });
  if (await has('ExerciseResults')) {
    await step('exercises: the results table shows the recorded answers as the server sums them', async () => {
      // --open: the caller is an admin, answers are recorded as user "open"
      await page.waitForSelector('#ex-results:not([hidden]) tr[data-user="open"][data-topic="buddy"]');
      const cells = () => page.$$eval('.ex-results tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
      const served = (await api('ExerciseResults', {})).results;
      const iso = (s) => (Number(s) > 0 ? new Date(Number(s) * 1000).toISOString().replace('.000Z', 'Z') : '—');
      const want = (rows) => rows.map((r) => [r.user, r.topic, r.attempts, r.correct, iso(r.firstCorrect), r.lastSeed, iso(r.lastAttempt)]);
      eq(await cells(), want(served), 'table rows = ExerciseResults');
      const buddy = served.find((r) => r.topic === 'buddy');
      eq([buddy.attempts, buddy.correct, buddy.lastSeed], ['2', '1', '7'], 'the wrong and the right answer were recorded');
      // one more answer from the UI shows up without a reload
      await page.fill('#ex-f0', '0x0');
      await page.click('#ex-answer button[type=submit]');
      await page.waitForSelector('tr[data-topic="buddy"] td.attempts:text-is("3")');
      // the topic filter asks the server for one topic
      await page.selectOption('#ex-res-filter [name=topic]', 'slab');
      await page.waitForSelector('.ex-results, .empty-results');
      await page.waitForFunction(() => !document.querySelector('tr[data-topic="buddy"]'));
      eq(await cells(), want((await api('ExerciseResults', { topic: 'slab' })).results), 'filtered rows');
      await page.selectOption('#ex-res-filter [name=topic]', '');
      await page.waitForSelector('tr[data-topic="buddy"]');
      await shot('13b-exercise-results');
    });
  } else skip('exercise results', 'server has no ExerciseResults');
} else skip('exercises', 'server has no exercise RPCs');

if (await has('MachineAt')) {
  await step('the time slider shows past states and comes back to the present', async () => {
    await tab('buddy');
    await page.waitForSelector('#timetravel:not([hidden])');
    const now = await api('MachineAt', { machineId, seq: '0', path: 'buddyinfo' });
    const last = Number(now.lastSeq);
    assert(last >= 3, `history has entries (${last})`);
    // one step back: the page shows the buddyinfo the server rebuilds for that point
    await page.click('#tt-back');
    await page.waitForFunction((s) => document.body.dataset.at === String(s) && !window.vmsim.refreshing, last - 1);
    const prev = await api('MachineAt', { machineId, seq: String(last - 1), path: 'buddyinfo' });
    eq(await page.textContent('#buddyinfo'), prev.text, `buddyinfo at history ${last - 1}`);
    eq(await page.textContent('[data-stat="seq"]'), prev.opSeq, 'op seq of that point');
    // far back: the first entries, before most allocations
    await page.fill('#tt-slider', '2');
    await page.dispatchEvent('#tt-slider', 'input');
    await page.waitForFunction(() => document.body.dataset.at === '2' && !window.vmsim.refreshing);
    const early = await api('MachineAt', { machineId, seq: '2', path: 'buddyinfo' });
    eq(await page.textContent('#buddyinfo'), early.text, 'buddyinfo at history 2');
    assert(early.text !== now.text, 'the past differs from the present');
    await shot('14-time-travel-buddy');
    await page.click('#tab-memory');
    await page.waitForFunction(() => !window.vmsim.refreshing && !window.vmsim.dirty);
    assert(await page.isVisible('#fm-past'), 'the map says it shows the present');
    const past = await api('MachineAt', { machineId, seq: '2' });
    const free = past.counters.find((c) => c.name === 'frames_free');
    eq(await page.textContent('#fm-past [data-owner="free"] b'), free.value, 'free frames at history 2');
    await shot('14-time-travel');
    // ops are refused while looking at the past, then Live returns
    await page.click('#tt-fwd');
    await page.waitForFunction(() => document.body.dataset.at === '3' && !window.vmsim.refreshing);
    await page.click('#tt-live');
    await page.waitForFunction(() => document.body.dataset.at === 'live' && !window.vmsim.refreshing);
    assert(!(await page.isVisible('#fm-past')), 'the map is live again');
    await tab('buddy');
    eq(await page.textContent('#buddyinfo'), (await api('Proc', { machineId, path: 'buddyinfo' })).text, 'back to the present');
  });
} else skip('time slider', 'server has no MachineAt');

await step('tabs work from the keyboard', async () => {
  await page.focus('#tab-drive');
  await page.keyboard.press('ArrowLeft');
  eq(await page.getAttribute('#tab-events', 'aria-selected'), 'true', 'ArrowLeft selects the previous tab');
  await page.keyboard.press('Home');
  eq(await page.getAttribute('#tab-memory', 'aria-selected'), 'true', 'Home selects the first tab');
  await settle();
  await page.focus('#framemap canvas');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  eq(await page.getAttribute('.fm-info', 'data-pfn'), '1', 'arrow keys move the frame cursor');
});

await step('reclaim view shows meminfo numbers as the server has them', async () => {
  await tab('reclaim');
  const mi = await api('Proc', { machineId, path: 'meminfo' }).catch(() => null);
  if (mi) {
    eq(await page.textContent('#meminfo'), mi.text, 'meminfo text');
    const total = /MemTotal:\s+(\d+)/.exec(mi.text)[1];
    const card = await page.textContent('.card[data-key="MemTotal"] b');
    assert(card.length > 0, `MemTotal card ${card} (${total} kB)`);
  }
  await shot('10-reclaim');
});

await step('a narrow window folds the layout to one column', async () => {
  await page.setViewportSize({ width: 420, height: 900 });
  await tab('memory');
  await page.waitForTimeout(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 1, `no horizontal scrolling (overflow ${overflow}px)`);
  const cols = Number(await page.evaluate(() => window.vmsim.frameMap.cols));
  assert(cols >= 16 && cols <= 512, `frame map re-laid out: ${cols} columns`);
  await shot('11-narrow');
  await page.setViewportSize({ width: 1400, height: 1000 });
});

await step('a 1 GiB machine (262,144 frames) draws whole and scrolls smoothly', async () => {
  const big = await api('CreateMachine', { name: 'big', config: { ramBytes: String(1 << 30) } });
  await page.reload();
  await page.waitForSelector(`.mbtn[data-id="${big.id}"]`);
  const t0 = Date.now();
  await page.click(`.mbtn[data-id="${big.id}"]`);
  await page.waitForFunction(() => document.querySelector('#framemap canvas').dataset.frames === '262144', null, { timeout: 20000 });
  await settle(big.id);
  const loadMs = Date.now() - t0;
  const fm = decodeFrames(await api('FrameMap', { machineId: big.id }));
  for (const p of [0, 131072, 262143]) eq(await pixel(p), await colourOf(fm[p]), `colour of pfn ${p}`);
  // redraw cost: setData (decode + paint all frames) and one scroll step at the largest zoom
  const t = await page.evaluate(async () => {
    const f = window.vmsim.frameMap;
    const resp = await (await fetch('/twirp/vmsim.v1.VmSim/FrameMap', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ machineId: window.vmsim.current.id }) })).json();
    let a = performance.now();
    for (let i = 0; i < 5; i++) f.setData(resp, window.vmsim.current.id);
    const setData = (performance.now() - a) / 5;
    f.cellIdx = 7;
    f.layout(true);
    a = performance.now();
    for (let i = 0; i < 50; i++) { f.scroll.scrollTop = i * 997; f.draw(); }
    const scroll = (performance.now() - a) / 50;
    return { setData, scroll, cols: f.cols, rows: f.rows };
  });
  console.log(`# 1 GiB frame map: page load to picture ${loadMs} ms; decode+paint ${t.setData.toFixed(1)} ms; `
    + `one scroll redraw at 16 px/frame ${t.scroll.toFixed(2)} ms (${t.cols} x ${t.rows} cells)`);
  assert(t.rows * t.cols >= 262144, 'every frame has a cell');
  await shot('12-one-gib');
  await api('DeleteMachine', { machineId: big.id });
  await page.reload();
  await page.waitForSelector(`.mbtn[data-id="${machineId}"]`);
  await page.click(`.mbtn[data-id="${machineId}"]`);
  await settle();
});

await step('an op that fails partway shows the seq it was kept as', async () => {
  await tab('buddy');
  let r;
  for (let i = 0; i < 64; i++) { // order-10 blocks until none is left above the watermarks
    r = await runForm('alloc_pages', { order: '10', gfp: '0' });
    if (!r.ok) break;
  }
  assert(r && !r.ok, 'an order-10 allocation failed at last');
  eq(r.code, 'resource_exhausted', 'Twirp code');
  const m = await api('GetMachine', { machineId });
  const seq = await page.getAttribute('#result .res.err .partway', 'data-seq');
  eq(seq, m.seq, 'the failure took the machine\'s latest seq');
  assert(r.text.includes(`failed partway: what it did stays, as seq ${m.seq}`), `result says so: ${r.text}`);
  await page.keyboard.press('Escape');
});

await step('reset and delete from the UI', async () => {
  await page.click('#m-reset');
  await page.waitForFunction(() => document.body.dataset.seq === '0', null, { timeout: 10000 });
  eq((await api('GetMachine', { machineId })).seq, '0', 'server seq after reset');
  await page.click('#m-delete');
  await page.waitForSelector('#empty:not([hidden])');
  const list = await api('ListMachines', {});
  assert(!list.machines.some((m) => m.id === machineId), 'machine gone');
});

if (await has('ExerciseResults')) {
  await step('exercises with users: an instructor sees the class results, a student neither them nor solutions', async () => {
    // a second vmsimd with authentication, on its own database
    const port2 = await freePort();
    const BASE2 = `http://127.0.0.1:${port2}`;
    const db = join(dataDir, 'class.db');
    const init = spawnSync(VMSIMD, ['--db', db, '--init-admin'], { encoding: 'utf8' });
    eq(init.status, 0, `--init-admin (${init.stderr})`);
    const admin = init.stdout.trim();
    const srv2 = spawn(VMSIMD, ['--db', db, '--listen', `127.0.0.1:${port2}`, '--web', WEB, '--log-level', 'warn'],
      { stdio: ['ignore', 'pipe', 'pipe'], cwd: dataDir });
    srv2.stdout.on('data', (d) => serverLog.push(String(d)));
    srv2.stderr.on('data', (d) => serverLog.push(String(d)));
    const as = async (tok, method, body) => {
      const r = await fetch(`${BASE2}/twirp/vmsim.v1.VmSim/${method}`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${tok}` }, body: JSON.stringify(body),
      });
      const j = await r.json();
      if (!r.ok) throw new Error(`${method}: ${j.code}: ${j.msg}`);
      return j;
    };
    try {
      for (let i = 0; i < 100; i++) {
        try { if ((await fetch(`${BASE2}/healthz`)).ok) break; } catch { /* not up yet */ }
        await new Promise((r) => setTimeout(r, 100));
      }
      const ines = (await as(admin, 'CreateUsers', { names: ['ines'], role: 'ROLE_INSTRUCTOR' })).users[0].token;
      const ana = (await as(ines, 'CreateUsers', { names: ['ana'] })).users[0].token;
      const key = await as(ines, 'SolveExercise', { topic: 'slab', seed: '3' });
      await as(ana, 'CheckExercise', { topic: 'slab', seed: '3', answer: 'objsize=1' });
      await as(ana, 'CheckExercise', { topic: 'slab', seed: '3', answer: key.answers.map((a) => `${a.name}=${a.value}`).join(' ') });
      const mi = (await as(ines, 'CreateMachine', { name: 'ines-lab', config: { ramBytes: '16777216' } })).id;
      const ma = (await as(ana, 'CreateMachine', { name: 'ana-lab', config: { ramBytes: '16777216' } })).id;

      // the instructor: her class's row, as the server sums it
      await page.goto(`${BASE2}/`);
      await page.fill('#token', ines);
      await page.click('#token-form button');
      await page.click(`.mbtn[data-id="${mi}"]`);
      await page.click('#tab-exercises');
      await page.waitForSelector('#ex-results[data-role="ROLE_INSTRUCTOR"]:not([hidden]) tr[data-user="ana"][data-topic="slab"]');
      const row = await page.$$eval('.ex-results tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
      eq(row.map((r) => [r[0], r[1], r[2], r[3], r[5]]), [['ana', 'slab', '2', '1', '3']], 'instructor sees ana: 2 attempts, 1 correct, seed 3');
      assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(row[0][4]), `first correct time shown: ${row[0][4]}`);
      await shot('13c-instructor-results');

      // the student: no class table, and the solution is refused with the server's reason
      await page.fill('#token', ana);
      await page.click('#token-form button');
      await page.click(`.mbtn[data-id="${ma}"]`);
      await page.waitForSelector('#ex-results[data-role="ROLE_STUDENT"][hidden]', { state: 'attached' });
      eq(await page.$$('.ex-results tbody tr').then((r) => r.length), 0, 'no results rows for a student');
      await page.selectOption('#ex-new [name=topic]', 'slab');
      await page.fill('#ex-new [name=seed]', '3');
      await page.click('#ex-new button');
      await page.waitForSelector('.question-text');
      await page.click('#ex-reveal');
      await page.waitForSelector('#ex-verdict .err[data-code="permission_denied"]');
      assert((await page.textContent('#ex-verdict .err')).includes('solutions are for instructors and admins'), 'the refusal says who may');
      await shot('13d-student-no-solution');
    } finally {
      srv2.kill('SIGTERM');
      await page.goto(`${BASE}/`); // back to the first server for the last checks
    }
  });
}

await step('no script errors during the run', async () => {
  eq(pageErrors, [], 'page errors');
});

await cleanup();
console.log(`# ${results.length} passed; screenshots in ${OUT}`);
