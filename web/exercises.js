// Exercises: pick a topic, get a generated question about this machine, answer, get it checked.
// Shown when the server offers the exercises RPCs.

import { call, probe } from './api.js';
import { $, esc } from './ui.js';

let ctx;
let available = null;

export function mountExercises(c) {
  ctx = c;
}

export async function updateExercises(snap) {
  const box = $('#exercises');
  if (available === null) available = await probe('ListExercises');
  if (!available) {
    box.innerHTML = '<p class="muted unavailable">This server offers no exercises RPCs.</p>';
    return;
  }
  if (box.dataset.machine === snap.id) return;
  box.dataset.machine = snap.id;
  let topics = [];
  try {
    const r = await call('ListExercises', { machineId: snap.id });
    topics = r.topics || r.exercises || [];
  } catch (err) {
    ctx.toast(err);
  }
  box.innerHTML = `<form id="ex-new" class="inline-form"><label>Topic <select name="topic">${topics.map((t) => {
    const id = t.id || t.name || t;
    return `<option value="${esc(id)}">${esc(t.title || id)}</option>`;
  }).join('')}</select></label><button class="primary">New question</button></form><div id="ex-q"></div>`;
  $('#ex-new').addEventListener('submit', async (e) => {
    e.preventDefault();
    const topic = new FormData(e.target).get('topic');
    try {
      const q = await call('NewExercise', { machineId: snap.id, topic });
      showQuestion(snap.id, q);
    } catch (err) {
      ctx.toast(err);
    }
  });
}

function showQuestion(machineId, q) {
  const box = $('#ex-q');
  box.innerHTML = `<div class="question"><p>${esc(q.question || q.text || '')}</p>
    <form id="ex-answer" class="inline-form"><label>Answer <input name="answer" autocomplete="off"></label><button class="primary">Check</button></form>
    <div id="ex-verdict" aria-live="polite"></div></div>`;
  $('#ex-answer').addEventListener('submit', async (e) => {
    e.preventDefault();
    const answer = new FormData(e.target).get('answer');
    try {
      const r = await call('CheckExercise', { machineId, exerciseId: q.id || q.exerciseId, answer });
      $('#ex-verdict').innerHTML = `<p class="${r.correct ? 'ok' : 'err'}"><b>${r.correct ? 'Correct' : 'Not quite'}</b> ${esc(r.explanation || r.msg || '')}</p>`;
    } catch (err) {
      ctx.toast(err);
    }
  });
}
