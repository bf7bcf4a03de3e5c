// Time travel: a slider over the machine's history (its journal: ops, resets, restores). Moving it
// shows the machine as it was at that history seq; the server rebuilds the state from the
// nearest checkpoint plus replay (MachineAt) and renders /proc views and counters from it.
// "Live" returns to the present. Shown when the server keeps history (vmsimd with a --db).

import { call, n, TwirpError } from './api.js';
import { $ } from './ui.js';

export class TimeTravel {
  constructor({ onChange, current }) {
    this.onChange = onChange;
    this.current = current;
    this.at = null; // null = live, else a history seq
    this.last = 0; // the end of the machine's history
    this.reason = '';
    const slider = $('#tt-slider');
    slider.addEventListener('input', () => this.show(Number(slider.value)));
    $('#tt-back').addEventListener('click', () => this.show(Math.max(1, (this.at ?? this.last) - 1)));
    $('#tt-fwd').addEventListener('click', () => this.show((this.at ?? this.last) + 1));
    $('#tt-live').addEventListener('click', () => this.show(this.last));
  }

  // A new machine, or a reset (history goes on while op seqs restart): ask the server again.
  reset() {
    this.at = null;
    this.probed = null;
  }

  // Called on every refresh. Asking MachineAt for "now" rebuilds the machine on the server, so
  // it is asked once per machine; afterwards each op adds one history entry, and every past
  // query returns the exact end of history again.
  async update(machine) {
    const box = $('#timetravel');
    if (this.probed !== machine.id) {
      this.probed = machine.id;
      this.available = false;
      try {
        const r = await call('MachineAt', { machineId: machine.id, seq: '0' });
        this.base = n(r.lastSeq) || n(r.seq);
        this.baseOpSeq = n(machine.seq);
        this.available = true;
      } catch (err) {
        // bad_route: an older server; otherwise this server keeps no history for the machine
        this.reason = `${err.code}: ${err.msg}`;
        box.dataset.reason = this.reason;
      }
    }
    box.hidden = !this.available;
    if (!this.available) return;
    if (this.at === null) this.last = this.base + Math.max(0, n(machine.seq) - this.baseOpSeq);
    const slider = $('#tt-slider');
    slider.min = '1';
    slider.max = String(this.last);
    slider.value = String(this.at ?? this.last);
    $('#tt-label').textContent = this.at === null ? `history ${this.last} (live)` : `history ${this.at} of ${this.last}${this.pastOpSeq !== undefined ? ` · op seq ${this.pastOpSeq}` : ''}`;
    box.classList.toggle('past', this.at !== null);
    box.dataset.at = this.at === null ? 'live' : String(this.at);
    document.body.classList.toggle('in-past', this.at !== null);
  }

  show(seq) {
    this.at = seq >= this.last ? null : Math.max(1, seq);
    this.pastOpSeq = undefined;
    $('#tt-slider').value = String(this.at ?? this.last);
    this.onChange();
  }

  learn(r) {
    this.pastOpSeq = n(r.opSeq);
    if (n(r.lastSeq)) {
      this.last = n(r.lastSeq);
      this.base = this.last;
      const m = this.current();
      this.baseOpSeq = m ? n(m.seq) : 0;
    }
  }

  // An inspection query against the past: /proc views and counters come from MachineAt; the
  // per-frame map exists only for the present.
  async query(method, req, at) {
    if (method === 'Proc') {
      const r = await call('MachineAt', { machineId: req.machineId, seq: String(at), path: req.path });
      this.learn(r);
      return { path: r.path, text: r.text, seq: r.opSeq };
    }
    if (method === 'Counters') {
      const r = await call('MachineAt', { machineId: req.machineId, seq: String(at) });
      this.learn(r);
      return { seq: r.opSeq, counters: r.counters || [] };
    }
    throw new TwirpError('unimplemented', `${method} shows the present only`, {}, method);
  }
}
