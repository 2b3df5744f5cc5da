/*
 * Behaviour of the vidgen page: the question form (config-filled lists, the
 * 10-10000 character rule checked before sending), live progress over
 * server-sent events with a polling fallback, the player, and the history.
 * Plain browser JavaScript, no build step; every server text goes in as text.
 */
'use strict';

(function () {
  const API = '/api/v1';
  const PROMPT_MIN = 10;
  const PROMPT_MAX = 10000;
  const POLL_MS = 1000;
  const HISTORY_PAGE = 10;

  /* The default pipeline's status names in plain language, in pipeline order (doc/web.md). */
  const STATUS_WORDS = {
    queued: 'Waiting in line',
    generating_initial_explanation: 'Writing the explanation',
    refining_explanation: 'Refining the explanation',
    generating_script: 'Writing the animation script',
    validating_script: 'Checking the script',
    rendering_video: 'Rendering the video',
    uploading_to_s3: 'Uploading',
    completed: 'Done',
    failed: 'Failed',
    cancelled: 'Cancelled',
  };
  const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
  /* Names a stream may give its events; the data is the same either way. */
  const EVENT_NAMES = ['status', 'progress', 'update', 'video', 'done', 'end',
    'completed', 'failed'];

  const BASE_TITLE = document.title;
  const $ = (id) => document.getElementById(id);
  const el = {};
  [
    'ask-form', 'prompt', 'prompt-count', 'prompt-error', 'prompt-rule', 'model',
    'voice', 'form-error', 'submit', 'job', 'job-title', 'job-question',
    'job-progress', 'stage-name', 'bar', 'bar-pct', 'steps', 'job-live', 'cancel',
    'job-failed', 'fail-message', 'retry', 'job-done', 'player', 'share-link',
    'copy', 'copy-status', 'video-link', 'initial-box', 'initial-text',
    'refined-box', 'refined-text', 'new-question', 'history-list',
    'history-empty', 'history-error', 'history-more', 'history-refresh', 'key-field',
    'api-key', 'job-note',
  ].forEach((id) => { el[id] = $(id); });

  let sending = false;
  let configLoaded = false;
  let watcher = null;   /* the job being shown: {id, state, es, timer, request} */
  let historyNext = null;
  let historySeq = 0;

  /* ---- small helpers ---- */

  /* Characters as the server counts them: code points, not UTF-16 units. */
  function charCount(s) {
    let n = 0;
    for (const _ of s) n++; // eslint-disable-line no-unused-vars
    return n;
  }

  function fmtNum(n) { return n.toLocaleString('en-US'); }

  function statusWords(s) {
    if (typeof s !== 'string' || s === '') return 'Unknown';
    if (STATUS_WORDS[s]) return STATUS_WORDS[s];
    const t = s.replace(/_/g, ' ');
    return t.charAt(0).toUpperCase() + t.slice(1);
  }

  function validId(id) {
    return typeof id === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(id);
  }

  /* Only http(s) URLs, absolute or same-origin, may become a src or href. */
  function safeUrl(u) {
    if (typeof u !== 'string' || u === '') return null;
    try {
      const url = new URL(u, window.location.href);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
      return url.href;
    } catch (_) {
      return null;
    }
  }

  function fmtTime(iso) {
    const d = new Date(iso);
    return isNaN(d.getTime()) ? '' : d.toLocaleString();
  }

  function show(node, on) { node.hidden = !on; }

  function setText(node, text) {
    node.textContent = text;
    show(node, text !== '');
  }

  /* The form's own message; kind 'config' marks one that a later
   * successful config load may clear. */
  function formError(text, kind) {
    el['form-error'].dataset.kind = kind || '';
    setText(el['form-error'], text);
  }

  /* A readable message from an error answer: the daemon's is
   * {"detail": text, "error": code, "field": name, "rule": rule}. */
  function errorText(body, status) {
    const str = (x) => typeof x === 'string' && x !== '';
    if (body && typeof body === 'object') {
      const field = str(body.field) ? body.field : '';
      let msg = [body.detail, body.message].find(str);
      if (!msg && Array.isArray(body.detail) && body.detail[0] && str(body.detail[0].msg))
        msg = body.detail[0].msg;
      if (!msg && str(body.error)) msg = body.rule ? `${body.error} (${body.rule})` : body.error;
      if (msg) return field && msg.indexOf(field) < 0 ? `${field}: ${msg}` : msg;
    }
    return `The server answered ${status}.`;
  }

  /* The API key, when the daemon asks for one (VIDGEN_API_KEYS): only for
   * this tab, and only sent with the calls that need it. */
  function apiKey() {
    const typed = el['api-key'].value.trim();
    if (typed) {
      try { sessionStorage.setItem('vidgen-api-key', typed); } catch (_) { /* private mode */ }
      return typed;
    }
    try { return sessionStorage.getItem('vidgen-api-key') || ''; } catch (_) { return ''; }
  }

  function askForKey() {
    show(el['key-field'], true);
    try { sessionStorage.removeItem('vidgen-api-key'); } catch (_) { /* private mode */ }
    el['api-key'].focus();
  }

  async function api(path, opts) {
    opts = Object.assign({ headers: {} }, opts || {});
    opts.headers = Object.assign({ Accept: 'application/json' }, opts.headers);
    if (opts.method === 'POST' || opts.method === 'DELETE') {
      const key = apiKey();
      if (key) opts.headers.Authorization = `Bearer ${key}`;
    }
    const r = await fetch(API + path, Object.assign({ cache: 'no-store' }, opts));
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    return { ok: r.ok, status: r.status, body };
  }

  /* ---- the form ---- */

  function promptProblem(text) {
    const n = charCount(text);
    if (n < PROMPT_MIN)
      return `Too short: the question needs at least ${PROMPT_MIN} characters (it has ${n}).`;
    if (n > PROMPT_MAX)
      return `Too long: the question can have at most ${fmtNum(PROMPT_MAX)} characters (it has ${fmtNum(n)}).`;
    return '';
  }

  function updateCount() {
    const n = charCount(el.prompt.value);
    el['prompt-count'].textContent = `${fmtNum(n)} / ${fmtNum(PROMPT_MAX)} characters`;
    const bad = n > PROMPT_MAX || (n > 0 && n < PROMPT_MIN);
    el['prompt-count'].classList.toggle('bad', bad);
    /* Clear a shown error once the text obeys the rule again. */
    if (!el['prompt-error'].hidden && promptProblem(el.prompt.value) === '') {
      setText(el['prompt-error'], '');
      el.prompt.removeAttribute('aria-invalid');
    }
  }

  function fillSelect(select, items, preferred) {
    select.textContent = '';
    items.forEach((name) => {
      const o = document.createElement('option');
      o.value = name;
      o.textContent = name;
      select.appendChild(o);
    });
    if (preferred && items.indexOf(preferred) >= 0) select.value = preferred;
    select.disabled = items.length === 0;
  }

  async function loadConfig() {
    try {
      const r = await api('/config');
      if (!r.ok || !r.body) throw new Error(errorText(r.body, r.status));
      const str = (a) => (Array.isArray(a) ? a.filter((x) => typeof x === 'string') : []);
      const models = str(r.body.models);
      const voices = str(r.body.voices);
      fillSelect(el.model, models, r.body.default_model);
      fillSelect(el.voice, voices, r.body.default_voice || 'Joanna');
      if (models.length === 0) throw new Error('the pipeline offers no model');
      configLoaded = true;
      if (el['form-error'].dataset.kind === 'config') formError('');
    } catch (e) {
      formError(`Could not load the models and voices (${e.message}).`, 'config');
    }
  }

  function setSending(on) {
    sending = on;
    el.submit.disabled = on;
    el.retry.disabled = on;
    el.submit.textContent = on ? 'Sending…' : 'Make the video';
    el['ask-form'].setAttribute('aria-busy', on ? 'true' : 'false');
  }

  async function onSubmit(ev) {
    ev.preventDefault();
    if (sending) return;
    formError('');
    const problem = promptProblem(el.prompt.value);
    if (problem) {
      setText(el['prompt-error'], problem);
      el.prompt.setAttribute('aria-invalid', 'true');
      el.prompt.focus();
      return;
    }
    if (!configLoaded) {
      /* Held as "sending" so a second press cannot slip in meanwhile. */
      setSending(true);
      await loadConfig();
      setSending(false);
    }
    if (!el.model.value) {
      formError('Choose a model first.');
      el.model.focus();
      return;
    }
    const req = { prompt: el.prompt.value, model: el.model.value };
    if (el.voice.value) req.voice = el.voice.value;
    await send(req);
  }

  async function send(req) {
    setSending(true);
    try {
      const r = await api('/videos', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(req),
      });
      if (r.status === 401) {
        formError('This server needs an API key: enter it and send again.');
        askForKey();
        return;
      }
      if (!r.ok || !r.body || !validId(r.body.video_id)) {
        const msg = r.ok ? 'The server gave no video id.' : errorText(r.body, r.status);
        const field = r.body && (r.body.field || (r.body.error && r.body.error.field));
        if (field === 'prompt') {
          setText(el['prompt-error'], msg);
          el.prompt.setAttribute('aria-invalid', 'true');
          el.prompt.focus();
        } else {
          formError(`Not sent: ${msg}`);
        }
        return;
      }
      openJob(r.body, req);
      loadHistory(false);
    } catch (e) {
      formError(`Could not reach the server (${e.message}).`);
    } finally {
      setSending(false);
    }
  }

  /* ---- one job: progress, result ---- */

  function stopWatching() {
    if (!watcher) return;
    if (watcher.es) watcher.es.close();
    if (watcher.timer) clearTimeout(watcher.timer);
    watcher.es = null;
    watcher.timer = null;
  }

  /* Shows a job (a VideoResponse) and follows it until it ends. */
  function openJob(v, request) {
    stopWatching();
    watcher = { id: v.video_id, state: {}, es: null, timer: null, request: request || null,
      seen: [], progress: 0 };
    el.steps.textContent = '';
    el.player.removeAttribute('src');
    showPoster(null);
    showCaptions(null);
    el.player.load();
    setText(el['copy-status'], '');
    setText(el['job-note'], '');
    show(el.job, true);
    show(el['job-progress'], true);
    show(el['job-failed'], false);
    show(el['job-done'], false);
    show(el['initial-box'], false);
    show(el['refined-box'], false);
    el.bar.value = 0;
    el['bar-pct'].textContent = '0%';
    if (window.location.hash !== `#v=${v.video_id}`)
      history.replaceState(null, '', `#v=${v.video_id}`);
    render(v);
    markCurrentInHistory();
    el['job-title'].focus({ preventScroll: true });
    el.job.scrollIntoView({ block: 'start' });
    if (!TERMINAL.has(v.status)) follow(watcher);
  }

  function follow(w) {
    if (!('EventSource' in window)) { poll(w); return; }
    let es;
    try {
      es = new EventSource(`${API}/videos/${encodeURIComponent(w.id)}/events`);
    } catch (_) {
      poll(w);
      return;
    }
    w.es = es;
    const onData = (ev) => {
      if (watcher !== w) return;
      let v;
      try { v = JSON.parse(ev.data); } catch (_) { return; }
      if (!v || typeof v !== 'object') return;
      render(v);
      if (TERMINAL.has(w.state.status)) stopWatching();
    };
    es.onmessage = onData;
    EVENT_NAMES.forEach((n) => es.addEventListener(n, onData));
    /* A broken or closed stream before the end: fall back to polling. */
    es.onerror = () => {
      if (watcher !== w || !w.es) return;
      es.close();
      w.es = null;
      poll(w);
    };
  }

  async function poll(w) {
    if (watcher !== w) return;
    try {
      const r = await api(`/videos/${encodeURIComponent(w.id)}/status`);
      if (watcher !== w) return;
      if (r.ok && r.body) render(r.body);
      else if (r.status === 404) {
        render({ status: 'failed', message: 'This video is unknown to the server.' });
      }
    } catch (_) {
      /* Keep trying: the daemon may be restarting. */
    }
    if (watcher === w && !TERMINAL.has(w.state.status))
      w.timer = setTimeout(() => poll(w), POLL_MS);
  }

  function renderSteps(w) {
    const s = w.state.status;
    if (s && w.seen.indexOf(s) < 0 && s !== 'failed' && s !== 'cancelled') w.seen.push(s);
    el.steps.textContent = '';
    w.seen.forEach((name, i) => {
      const li = document.createElement('li');
      li.textContent = statusWords(name);
      li.dataset.status = name;
      const last = i === w.seen.length - 1;
      if (!last || name === 'completed') li.className = 'done';
      else if (!TERMINAL.has(s)) { li.className = 'current'; li.setAttribute('aria-current', 'step'); }
      el.steps.appendChild(li);
    });
  }

  /* Merges an update (a whole or partial VideoResponse) into the shown job. */
  function render(v) {
    const w = watcher;
    const prev = w.state.status;
    for (const k of Object.keys(v)) if (v[k] !== undefined) w.state[k] = v[k];
    const st = w.state;

    el['job-question'].textContent = typeof st.original_question === 'string'
      ? st.original_question : (w.request ? w.request.prompt : '');
    const words = statusWords(st.status);
    el['stage-name'].textContent = words;
    if (st.status !== prev) el['job-live'].textContent = words;

    /* Progress never goes backwards on screen either. */
    const p = Number(st.progress);
    if (Number.isFinite(p)) w.progress = Math.max(w.progress, Math.min(100, Math.max(0, p)));
    if (st.status === 'completed') w.progress = 100;
    el.bar.value = w.progress;
    el.bar.textContent = `${w.progress}%`;
    el['bar-pct'].textContent = `${Math.round(w.progress)}%`;
    renderSteps(w);

    showText(el['initial-box'], el['initial-text'], st.initial_explanation);
    showText(el['refined-box'], el['refined-text'], st.refined_explanation);

    updateHistoryItem(w.id, st.status);
    /* A background tab shows how far the job is. */
    document.title = TERMINAL.has(st.status) ? `${words} — ${BASE_TITLE}`
      : `${Math.round(w.progress)}% ${words} — ${BASE_TITLE}`;

    if (st.status === 'completed') showDone(w);
    else if (st.status === 'failed' || st.status === 'cancelled') showFailed(w);
    if (TERMINAL.has(st.status) && !TERMINAL.has(prev) && prev !== undefined) loadHistory(false);
  }

  function showText(box, node, text) {
    const has = typeof text === 'string' && text !== '';
    if (has && node.textContent !== text) node.textContent = text;
    show(box, has);
  }

  function showDone(w) {
    show(el['job-progress'], false);
    show(el['job-failed'], false);
    show(el['job-done'], true);
    const src = safeUrl(w.state.s3_url) || safeUrl(w.state.video_url);
    if (!src) {
      showFailed(w, 'The video is done, but the server gave no address for it.');
      return;
    }
    if (el.player.getAttribute('src') !== src) {
      el.player.src = src;
      showPoster(safeUrl(w.state.poster_url));
      showCaptions(safeUrl(w.state.captions_url));
    }
    el['video-link'].href = src;
    const page = new URL(window.location.href);
    page.hash = `v=${w.id}`;
    el['share-link'].value = page.href;
  }

  /* The poster frame before play (none: the player's own blank). */
  function showPoster(url) {
    if (url) el.player.poster = url;
    else el.player.removeAttribute('poster');
  }

  /* The captions as a track the viewer turns on from the player's menu
   * (off until then). */
  function showCaptions(url) {
    el.player.querySelectorAll('track').forEach((t) => t.remove());
    if (!url) return;
    const t = document.createElement('track');
    t.kind = 'captions';
    t.label = 'Captions';
    t.srclang = 'en';
    t.src = url;
    el.player.appendChild(t);
  }

  function showFailed(w, why) {
    show(el['job-progress'], false);
    show(el['job-done'], false);
    show(el['job-failed'], true);
    const msg = why || (typeof w.state.message === 'string' && w.state.message) ||
      'The video could not be made.';
    el['fail-message'].textContent = msg;
  }

  async function onRetry() {
    if (!watcher || sending) return;
    const w = watcher;
    const req = w.request ? Object.assign({}, w.request) : {
      prompt: typeof w.state.original_question === 'string' ? w.state.original_question : '',
      model: el.model.value,
    };
    if (!req.voice && el.voice.value && !w.request) req.voice = el.voice.value;
    /* Put the question back in the form so it can also be edited and resent. */
    el.prompt.value = req.prompt;
    updateCount();
    if (promptProblem(req.prompt) || !req.model) {
      el.prompt.focus();
      return;
    }
    await send(req);
  }

  async function onCancel() {
    if (!watcher) return;
    const w = watcher;
    el.cancel.disabled = true;
    setText(el['job-note'], '');
    try {
      const r = await api(`/videos/${encodeURIComponent(w.id)}`, { method: 'DELETE' });
      if (watcher !== w) return;
      if (r.ok && r.body && r.body.status) render(r.body);
      else if (r.status === 401) {
        setText(el['job-note'], 'Could not cancel: this server needs an API key.');
        el['ask-form'].scrollIntoView({ block: 'start' });
        askForKey();
      } else if (!r.ok) setText(el['job-note'], `Could not cancel: ${errorText(r.body, r.status)}`);
    } catch (_) {
      setText(el['job-note'], 'Could not cancel: the server did not answer.');
    } finally {
      el.cancel.disabled = false;
    }
  }

  async function onCopy() {
    const link = el['share-link'].value;
    try {
      await navigator.clipboard.writeText(link);
      el['copy-status'].textContent = 'Link copied.';
    } catch (_) {
      el['share-link'].select();
      el['copy-status'].textContent = 'Press Ctrl+C (or ⌘C) to copy the selected link.';
    }
  }

  function onNewQuestion() {
    stopWatching();
    watcher = null;
    show(el.job, false);
    document.title = BASE_TITLE;
    history.replaceState(null, '', window.location.pathname + window.location.search);
    markCurrentInHistory();
    el.prompt.focus();
    el['ask-form'].scrollIntoView({ block: 'start' });
  }

  async function openById(id) {
    if (!validId(id)) return;
    try {
      const r = await api(`/videos/${encodeURIComponent(id)}/status`);
      if (r.ok && r.body && validId(r.body.video_id)) {
        openJob(r.body, null);
      } else {
        setText(el['history-error'], `Could not open that video: ${errorText(r.body, r.status)}`);
      }
    } catch (e) {
      setText(el['history-error'], `Could not reach the server (${e.message}).`);
    }
  }

  /* ---- history ---- */

  function historyItem(v) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.id = v.video_id;
    const q = document.createElement('span');
    q.className = 'h-q';
    const text = typeof v.original_question === 'string' ? v.original_question : '(no question)';
    q.textContent = text.length > 160 ? `${text.slice(0, 157)}…` : text;
    const meta = document.createElement('span');
    meta.className = 'h-meta';
    const badge = document.createElement('span');
    badge.className = `badge ${typeof v.status === 'string' ? v.status : ''}`;
    badge.textContent = statusWords(v.status);
    meta.appendChild(badge);
    const when = fmtTime(v.created_at);
    if (when) meta.appendChild(document.createTextNode(` · ${when}`));
    const thumb = safeUrl(v.thumbnail_url);
    if (thumb) {
      const img = document.createElement('img');
      img.className = 'h-thumb';
      img.src = thumb;
      img.alt = '';
      img.loading = 'lazy';
      img.width = 96;
      img.height = 54;
      const words = document.createElement('span');
      words.className = 'h-text';
      words.appendChild(q);
      words.appendChild(meta);
      b.classList.add('has-thumb');
      b.appendChild(img);
      b.appendChild(words);
    } else {
      b.appendChild(q);
      b.appendChild(meta);
    }
    b.addEventListener('click', () => openById(v.video_id));
    li.appendChild(b);
    return li;
  }

  /* Keeps the shown job's line in the history in step with it. */
  function updateHistoryItem(id, status) {
    el['history-list'].querySelectorAll('button[data-id]').forEach((b) => {
      if (b.dataset.id !== id) return;
      const badge = b.querySelector('.badge');
      if (!badge) return;
      badge.className = `badge ${typeof status === 'string' ? status : ''}`;
      badge.textContent = statusWords(status);
    });
  }

  function markCurrentInHistory() {
    const id = watcher ? watcher.id : null;
    el['history-list'].querySelectorAll('button[data-id]').forEach((b) => {
      if (b.dataset.id === id) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    });
  }

  /* more=false reloads the first page; more=true appends the next one. */
  async function loadHistory(more) {
    let q = `?limit=${HISTORY_PAGE}`;
    if (more && historyNext) q += `&before=${encodeURIComponent(historyNext)}`;
    /* Answers can cross: only the latest request may fill the list. */
    const seq = ++historySeq;
    try {
      const r = await api(`/videos${q}`);
      if (seq !== historySeq) return;
      if (!r.ok || !r.body) throw new Error(errorText(r.body, r.status));
      const list = Array.isArray(r.body) ? r.body : (r.body.videos || r.body.items || []);
      const next = Array.isArray(r.body) ? null : (r.body.next_cursor || r.body.next || null);
      if (!more) el['history-list'].textContent = '';
      list.filter((v) => v && validId(v.video_id))
        .forEach((v) => el['history-list'].appendChild(historyItem(v)));
      historyNext = (typeof next === 'string' && next !== '') || typeof next === 'number'
        ? String(next) : null;
      show(el['history-more'], historyNext !== null);
      show(el['history-empty'], el['history-list'].children.length === 0);
      setText(el['history-error'], '');
      markCurrentInHistory();
      /* The list can lag the live stream: the shown job's own state wins. */
      if (watcher && watcher.state.status) updateHistoryItem(watcher.id, watcher.state.status);
    } catch (e) {
      if (seq !== historySeq) return;
      setText(el['history-error'], `Could not load past videos (${e.message}).`);
    }
  }

  function openFromHash() {
    const m = /^#v=([A-Za-z0-9_-]{1,64})$/.exec(window.location.hash);
    if (m && (!watcher || watcher.id !== m[1])) openById(m[1]);
  }

  /* ---- wiring ---- */

  el['ask-form'].addEventListener('submit', onSubmit);
  el.prompt.addEventListener('input', updateCount);
  el.retry.addEventListener('click', onRetry);
  el.cancel.addEventListener('click', onCancel);
  el.copy.addEventListener('click', onCopy);
  el['new-question'].addEventListener('click', onNewQuestion);
  el['history-more'].addEventListener('click', () => loadHistory(true));
  el['history-refresh'].addEventListener('click', () => loadHistory(false));
  window.addEventListener('hashchange', openFromHash);
  /* Ctrl+Enter sends from inside the question box. */
  el.prompt.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) el['ask-form'].requestSubmit();
  });

  updateCount();
  loadConfig();
  loadHistory(false);
  openFromHash();
})();
