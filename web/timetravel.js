// Time travel: a slider over the machine's op sequence. Moving it shows the machine as it was
// after op `seq` (the server rebuilds that state from its snapshots and journal); "Live" returns
// to the present. Shown only when the server offers the MachineAt RPC.

import { call, probe, n } from './api.js';
import { $ } from './ui.js';

export class TimeTravel {
  constructor({ onChange, current }) {
    this.onChange = onChange;
    this.current = current;
    this.at = null; // null = live
    this.available = null;
    this.views = new Map(); // seq -> machine id of the past view the server gave
    const slider = $('#tt-slider');
    slider.addEventListener('input', () => this.show(Number(slider.value)));
    $('#tt-back').addEventListener('click', () => this.show(Math.max(0, (this.at ?? this.max()) - 1)));
    $('#tt-fwd').addEventListener('click', () => this.show(Math.min(this.max(), (this.at ?? this.max()) + 1)));
    $('#tt-live').addEventListener('click', () => this.show(this.max()));
  }

  max() {
    const m = this.current();
    return m ? n(m.seq) : 0;
  }

  reset() {
    this.at = null;
    this.views.clear();
  }

  async update(machine) {
    if (this.available === null) this.available = await probe('MachineAt');
    const box = $('#timetravel');
    box.hidden = !this.available;
    if (!this.available) return;
    const slider = $('#tt-slider');
    const max = n(machine.seq);
    slider.max = String(max);
    if (this.at === null) slider.value = String(max);
    $('#tt-label').textContent = this.at === null ? `seq ${max} (live)` : `seq ${this.at} of ${max}`;
    box.classList.toggle('past', this.at !== null);
    document.body.classList.toggle('in-past', this.at !== null);
  }

  show(seq) {
    this.at = seq >= this.max() ? null : seq;
    $('#tt-slider').value = String(seq);
    this.onChange();
  }

  // An inspection query against the past state.
  async query(method, req, at) {
    const view = await this.machineAt(req.machineId, at);
    return call(method, { ...req, machineId: view });
  }

  async machineAt(id, seq) {
    const key = `${id}@${seq}`;
    if (!this.views.has(key)) {
      this.views.set(key, call('MachineAt', { machineId: id, seq: String(seq) }).then((m) => m.id || m.machine?.id));
    }
    return this.views.get(key);
  }
}
