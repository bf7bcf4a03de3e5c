// Exercises: pick a seed topic, get a generated question, answer it field by field, get it
// checked. The server builds each exercise on a scratch machine from (topic, seed), so the same
// pair always gives the same question and nothing is stored between asking and checking.

import { call } from './api.js';
import { $, esc } from './ui.js';

let ctx;
let topics = null;
let current = null; // the Exercise being answered

const KIND_HINT = {
  EXERCISE_FIELD_DEC: 'a count, e.g. 12',
  EXERCISE_FIELD_HEX: 'hex, e.g. 0x1a40',
  EXERCISE_FIELD_HITMISS: 'H or M',
};

export function mountExercises(c) {
  ctx = c;
}

export async function updateExercises() {
  const box = $('#exercises');
  if (topics) return;
  try {
    topics = (await call('ListExercises', {})).topics || [];
  } catch (err) {
    box.innerHTML = `<p class="muted unavailable">Exercises are not available from this server: ${esc(err.code)}: ${esc(err.msg)}.</p>`;
    return;
  }
  box.innerHTML = `<form id="ex-new" class="inline-form">
      <label>Topic <select name="topic">${topics.map((t) => `<option value="${esc(t.name)}">${esc(t.name)} — ${esc(t.summary)}</option>`).join('')}</select></label>
      <label>Seed <input name="seed" value="${Math.floor(Math.random() * 1000)}" inputmode="numeric" size="8"></label>
      <button class="primary">New question</button>
    </form>
    <p class="muted small">The same topic and seed always give the same question: share a seed with the class.</p>
    <div id="ex-q"></div>`;
  $('#ex-new').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      current = await call('NewExercise', { topic: f.get('topic'), seed: String(f.get('seed') || '0').trim() });
      showQuestion();
    } catch (err) {
      ctx.toast(err);
    }
  });
}

function showQuestion() {
  const q = current;
  const fields = q.fields || [];
  $('#ex-q').innerHTML = `<div class="question" data-topic="${esc(q.topic)}" data-seed="${esc(q.seed)}">
      <pre class="question-text">${esc(q.question)}</pre>
      <form id="ex-answer" class="answer-grid">
        ${fields.map((f, i) => `<label for="ex-f${i}"><code>${esc(f.name)}</code> <span class="hint">${esc(KIND_HINT[f.kind] || '')}</span></label>
          <input id="ex-f${i}" name="${esc(f.name)}" autocomplete="off" spellcheck="false">`).join('')}
        <div class="answer-tools"><button class="primary" type="submit">Check</button>
          <button type="button" id="ex-reveal">Show the solution</button></div>
      </form>
      <div id="ex-verdict" aria-live="polite"></div></div>`;
  $('#ex-f0')?.focus();
  $('#ex-answer').addEventListener('submit', (e) => { e.preventDefault(); check(false); });
  $('#ex-reveal').addEventListener('click', () => check(true));
}

async function check(reveal) {
  const f = new FormData($('#ex-answer'));
  const answer = [...f.entries()].filter(([, v]) => String(v).trim()).map(([k, v]) => `${k}=${String(v).trim()}`).join(' ');
  try {
    const v = await call('CheckExercise', { topic: current.topic, seed: current.seed, answer, reveal });
    const box = $('#ex-verdict');
    box.innerHTML = `<p class="verdict ${v.correct ? 'ok' : 'err'}" data-correct="${!!v.correct}"><b>${v.correct ? 'Correct' : reveal && !answer ? 'Solution' : 'Not quite'}</b>
        ${answer ? `— ${v.right || 0} of ${v.total || 0} right` : ''}</p>
      ${v.feedback && answer ? `<pre class="proc feedback">${esc(v.feedback)}</pre>` : ''}
      ${v.solution ? `<h4>What the kernel did</h4><pre class="proc solution">${esc(v.solution)}</pre>` : ''}`;
  } catch (err) {
    // an answer the checker cannot read comes back as invalid_argument naming the token
    ctx.toast(err);
    $('#ex-verdict').innerHTML = `<p class="err">${esc(err.code)}: ${esc(err.msg)}</p>`;
  }
}
