// Exercises: pick a seed topic, get a generated question, answer it field by field, get it
// checked. The server builds each exercise on a scratch machine from (topic, seed), so the same
// pair always gives the same question; it records every checked answer, and an instructor or
// admin sees the class's results below the question (ExerciseResults). The worked solution is
// SolveExercise, which the server refuses to students unless it runs with --student-solve.

import { call, getToken, has } from './api.js';
import { $, esc } from './ui.js';

let ctx;
let topics = null;
let current = null; // the Exercise being answered
let roleFor = null; // the token the role below was read for
let role = '';      // ROLE_ADMIN, ROLE_INSTRUCTOR, ROLE_STUDENT ('' unknown)

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
  if (topics) {
    await updateResults();
    return;
  }
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
    <div id="ex-q"></div>
    <section id="ex-results" hidden>
      <h3>Class results</h3>
      <form id="ex-res-filter" class="inline-form">
        <label>Topic <select name="topic"><option value="">all topics</option>${topics.map((t) => `<option value="${esc(t.name)}">${esc(t.name)}</option>`).join('')}</select></label>
        <button type="submit">Refresh</button>
      </form>
      <div id="ex-res-table"></div>
    </section>`;
  $('#ex-res-filter').addEventListener('submit', (e) => { e.preventDefault(); updateResults(true); });
  $('#ex-res-filter [name=topic]').addEventListener('change', () => updateResults(true));
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
  await updateResults();
}

// The caller's role, read again whenever the token changes.
async function callerRole() {
  const tok = getToken();
  if (roleFor === tok) return role;
  try {
    role = has('Whoami') ? (await call('Whoami', {})).user?.role || '' : '';
  } catch {
    role = '';
  }
  roleFor = tok;
  return role;
}

const TIME = (s) => (Number(s) > 0 ? new Date(Number(s) * 1000).toISOString().replace('.000Z', 'Z') : '—');

// The recorded answers per user and topic, for an instructor (their class) or an admin (all).
async function updateResults(fromClick) {
  const sec = $('#ex-results');
  if (!sec) return;
  const r = await callerRole();
  const show = (r === 'ROLE_ADMIN' || r === 'ROLE_INSTRUCTOR') && has('ExerciseResults');
  sec.hidden = !show;
  sec.dataset.role = r;
  if (!show) {
    $('#ex-res-table').innerHTML = ''; // another token's class stays off the page
    return;
  }
  const topic = $('#ex-res-filter [name=topic]').value;
  const box = $('#ex-res-table');
  let rows;
  try {
    rows = (await call('ExerciseResults', { topic })).results || [];
  } catch (err) {
    box.innerHTML = `<p class="err">${esc(err.code)}: ${esc(err.msg)}</p>`;
    if (fromClick) ctx.toast(err);
    return;
  }
  box.innerHTML = rows.length
    ? `<table class="data ex-results">
        <thead><tr><th>User</th><th>Topic</th><th class="num">Attempts</th><th class="num">Correct</th>
          <th>First correct (UTC)</th><th class="num">Last seed</th><th>Last attempt (UTC)</th></tr></thead>
        <tbody>${rows.map((x) => `<tr data-user="${esc(x.user)}" data-topic="${esc(x.topic)}">
          <td>${esc(x.user)}</td><td>${esc(x.topic)}</td><td class="num attempts">${esc(x.attempts)}</td>
          <td class="num correct">${esc(x.correct)}</td><td class="first">${TIME(x.firstCorrect)}</td>
          <td class="num seed">${esc(x.lastSeed)}</td><td>${TIME(x.lastAttempt)}</td></tr>`).join('')}</tbody>
      </table>`
    : `<p class="muted empty-results">No answers recorded${topic ? ` for ${esc(topic)}` : ''} yet.</p>`;
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
  $('#ex-answer').addEventListener('submit', (e) => { e.preventDefault(); check(); });
  $('#ex-reveal').addEventListener('click', () => solve());
}

function showError(err) {
  // an answer the checker cannot read comes back as invalid_argument naming the token; a
  // student asking for the solution gets permission_denied saying who may
  ctx.toast(err);
  $('#ex-verdict').innerHTML = `<p class="err" data-code="${esc(err.code)}">${esc(err.code)}: ${esc(err.msg)}</p>`;
}

async function check() {
  const f = new FormData($('#ex-answer'));
  const answer = [...f.entries()].filter(([, v]) => String(v).trim()).map(([k, v]) => `${k}=${String(v).trim()}`).join(' ');
  try {
    const v = await call('CheckExercise', { topic: current.topic, seed: current.seed, answer });
    $('#ex-verdict').innerHTML = `<p class="verdict ${v.correct ? 'ok' : 'err'}" data-correct="${!!v.correct}"><b>${v.correct ? 'Correct' : 'Not quite'}</b>
        — ${v.right || 0} of ${v.total || 0} right</p>
      ${v.feedback ? `<pre class="proc feedback">${esc(v.feedback)}</pre>` : ''}
      ${v.solution ? `<h4>What the kernel did</h4><pre class="proc solution">${esc(v.solution)}</pre>` : ''}`;
  } catch (err) {
    showError(err);
    return;
  }
  await updateResults(); // the answer was recorded: an instructor sees it at once
}

async function solve() {
  try {
    const s = await call('SolveExercise', { topic: current.topic, seed: current.seed });
    $('#ex-verdict').innerHTML = `<p class="verdict"><b>Solution</b></p>
      <h4>What the kernel did</h4><pre class="proc solution">${esc(s.solution)}</pre>`;
  } catch (err) {
    showError(err);
  }
}
