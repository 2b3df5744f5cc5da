/*
 * Browser test of the page `vidgen serve` serves: Debian's headless Chromium
 * driven by playwright-core against a running daemon (VIDGEN_URL). Prints TAP
 * and saves screenshots of each state under VIDGEN_TEST_OUT.
 */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const BASE = process.env.VIDGEN_URL;
const OUT = process.env.VIDGEN_TEST_OUT || path.resolve('test-output/browser');
const CHROMIUM = process.env.VIDGEN_CHROMIUM || '/usr/bin/chromium';
const JOB_TIMEOUT_MS = Number(process.env.VIDGEN_BROWSER_JOB_TIMEOUT_MS || 180000);
/* A question the test pipeline has recorded answers for (answers/). */
const QUESTION = process.env.VIDGEN_BROWSER_QUESTION || 'What is the area of a circle?';
/* A second daemon started with VIDGEN_API_KEYS, and its key. */
const KEYED_URL = process.env.VIDGEN_KEYED_URL || '';
const KEYED_KEY = process.env.VIDGEN_KEYED_KEY || '';

/* Plain-language stage names the page may show (doc/web.md, issue 6). */
const STAGE_WORDS = ['Waiting in line', 'Writing the explanation', 'Refining the explanation',
  'Writing the animation script', 'Checking the script', 'Rendering the video', 'Uploading',
  'Done', 'Failed'];

/* ---- a tiny sequential TAP harness ---- */
const cases = [];
function test(name, fn) { cases.push({ name, fn }); }
function diag(text) {
  String(text).split('\n').forEach((l) => process.stdout.write(`# ${l}\n`));
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
class Skip extends Error {}

const ctx = {};   /* state shared by the steps, in order */

async function shot(page, name) {
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/* Records every change of the stage text and the bar, from inside the page,
 * so quick stages are not missed between two looks from outside. */
function recorderScript() {
  window.__vg = { stages: [], bars: [], posts: 0 };
  const look = () => {
    const s = document.getElementById('stage-name');
    const b = document.getElementById('bar');
    if (!s || !b) return;
    const st = s.textContent;
    if (window.__vg.stages[window.__vg.stages.length - 1] !== st) window.__vg.stages.push(st);
    const v = Number(b.value);
    if (window.__vg.bars[window.__vg.bars.length - 1] !== v) window.__vg.bars.push(v);
  };
  document.addEventListener('DOMContentLoaded', () => {
    new MutationObserver(look).observe(document.body,
      { subtree: true, childList: true, characterData: true, attributes: true });
  });
}

/* Runs axe-core (WCAG 2.1 A and AA rules) on the page as it is now and
 * keeps the violations under a name, for the accessibility step. */
async function axeCheck(page, name) {
  if (!(await page.evaluate(() => typeof window.axe === 'object')))
    await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3)
      .map((n) => n.target.join(' ')).join(', ')}`);
  });
  ctx.axe.push({ name, found });
}

async function visibleText(page, sel) {
  const loc = page.locator(sel);
  if (!(await loc.isVisible())) return null;
  return (await loc.textContent()).trim();
}

/* Tabs until the element matching sel has focus; returns the tab count. */
async function tabTo(page, sel, max) {
  for (let i = 1; i <= max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement === document.querySelector(s), sel))
      return i;
  }
  throw new Error(`${sel} not reached with ${max} presses of Tab`);
}

/* ---- the steps ---- */

test('page loads with no script errors and lists models and voices from /api/v1/config', async () => {
  const { page } = ctx;
  const cfg = await (await fetch(`${BASE}/api/v1/config`)).json();
  ctx.config = cfg;
  await page.goto(`${BASE}/`);
  await page.waitForFunction(() => !document.getElementById('model').disabled);
  const models = await page.$$eval('#model option', (os) => os.map((o) => o.value));
  const voices = await page.$$eval('#voice option', (os) => os.map((o) => o.value));
  assert(JSON.stringify(models) === JSON.stringify(cfg.models),
    `models ${JSON.stringify(models)} != config ${JSON.stringify(cfg.models)}`);
  assert(JSON.stringify(voices) === JSON.stringify(cfg.voices),
    `voices ${JSON.stringify(voices)} != config ${JSON.stringify(cfg.voices)}`);
  if (cfg.voices.indexOf('Joanna') >= 0)
    assert(await page.inputValue('#voice') === 'Joanna', 'Joanna is not the default voice');
  assert(ctx.errors.length === 0, `page errors: ${ctx.errors.join('; ')}`);
});

test('every control has a label and the 10-10000 character rule shows before sending', async () => {
  const { page } = ctx;
  for (const name of ['Your question', 'Model', 'Voice']) {
    const n = await page.getByLabel(name, { exact: true }).count();
    assert(n === 1, `no control labelled "${name}" (found ${n})`);
  }
  const rule = await visibleText(page, '#prompt-rule');
  assert(rule && /10\b/.test(rule) && /10,?000/.test(rule), `rule not shown: ${rule}`);
  const noName = await page.$$eval('button', (bs) => bs.filter((b) => b.offsetParent !== null &&
    !(b.textContent.trim() || b.getAttribute('aria-label'))).length);
  assert(noName === 0, `${noName} visible buttons have no name`);
});

test('the counter counts characters, not bytes or UTF-16 units', async () => {
  const { page } = ctx;
  await page.fill('#prompt', 'é'.repeat(9));
  let count = await page.textContent('#prompt-count');
  assert(/^9 \//.test(count.trim()), `9 accented letters counted as "${count}"`);
  await page.fill('#prompt', '\u{1F600}'.repeat(10));
  count = await page.textContent('#prompt-count');
  assert(/^10 \//.test(count.trim()), `10 emoji counted as "${count}"`);
});

test('a too-short question shows the rule and sends nothing', async () => {
  const { page } = ctx;
  const before = ctx.posts.length;
  await page.fill('#prompt', 'Why?');
  await page.click('#submit');
  await page.waitForSelector('#prompt-error', { state: 'visible', timeout: 5000 });
  const err = (await page.textContent('#prompt-error')).trim();
  assert(/at least 10 characters/.test(err), `error text: ${err}`);
  assert(await page.getAttribute('#prompt', 'aria-invalid') === 'true', 'textarea not marked invalid');
  assert(await page.evaluate(() => document.activeElement.id) === 'prompt', 'focus not moved to the question');
  /* 9 two-byte characters are 18 bytes: still too short. */
  await page.fill('#prompt', 'é'.repeat(9));
  await page.click('#submit');
  await page.waitForTimeout(500);
  assert(ctx.posts.length === before, `${ctx.posts.length - before} POST(s) sent for a too-short question`);
  assert(await page.locator('#job').isHidden(), 'a job panel appeared');
  ctx.shots.push(await shot(page, 'form-invalid'));
  await axeCheck(page, 'form with an error');
});

test('keyboard only: the submit button is reachable with a visible focus ring and sends', async () => {
  const { page } = ctx;
  await page.fill('#prompt', '');
  await page.focus('#prompt');
  await page.keyboard.type(QUESTION);
  ctx.question = QUESTION;
  await page.evaluate(() => { window.__vg.stages = []; window.__vg.bars = []; });
  ctx.shots.push(await shot(page, 'form'));
  await tabTo(page, '#submit', 10);
  const outline = await page.$eval('#submit', (b) => {
    const cs = getComputedStyle(b);
    return { style: cs.outlineStyle, width: parseFloat(cs.outlineWidth) };
  });
  assert(outline.style !== 'none' && outline.width >= 2,
    `focused submit has no visible outline: ${JSON.stringify(outline)}`);
  /* Hold the POST a moment so the sending state can be seen. */
  let release;
  const held = new Promise((r) => { release = r; });
  await page.route('**/api/v1/videos', async (route) => {
    if (route.request().method() === 'POST') await held;
    await route.continue();
  });
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('submit').disabled, null, { timeout: 5000 });
  const label = (await page.textContent('#submit')).trim();
  release();
  await page.waitForSelector('#job', { state: 'visible', timeout: 10000 });
  await page.unroute('**/api/v1/videos');
  assert(/Sending/.test(label), `submit label while sending: ${label}`);
  assert(ctx.posts.length >= 1, 'no POST seen');
  const body = JSON.parse(ctx.posts[ctx.posts.length - 1].postData());
  assert(body.prompt === ctx.question, `POSTed prompt ${JSON.stringify(body.prompt)}`);
  assert(body.model === ctx.config.models[0], `POSTed model ${body.model}`);
  await page.waitForFunction(() => !document.getElementById('submit').disabled);
  const m = /#v=([A-Za-z0-9_-]+)$/.exec(page.url());
  assert(m, `page URL has no video id: ${page.url()}`);
  ctx.id = m[1];
  diag(`video id ${ctx.id}`);
});

test('while it is made: stage names change and the bar moves', async () => {
  const { page } = ctx;
  const t0 = Date.now();
  let tookProgressShot = false;
  for (;;) {
    const st = await page.evaluate(() => ({
      stage: document.getElementById('stage-name').textContent,
      bar: Number(document.getElementById('bar').value),
      done: !document.getElementById('job-done').hidden,
      failed: !document.getElementById('job-failed').hidden,
    }));
    /* The in-progress picture: the first moving state, replaced by one
     * past the explanations (so they show) when the job lasts that long. */
    if (!st.done && !st.failed && ((!tookProgressShot && st.bar > 0) ||
        (tookProgressShot === 1 && st.bar >= 45))) {
      const f = await shot(page, 'progress');
      if (!tookProgressShot) await axeCheck(page, 'in progress');
      if (!tookProgressShot) ctx.shots.push(f);
      tookProgressShot = (tookProgressShot || 0) + 1;
    }
    if (st.failed) throw new Error(`job failed: ${await page.textContent('#fail-message')}`);
    if (st.done) break;
    if (Date.now() - t0 > JOB_TIMEOUT_MS) throw new Error(`not done after ${JOB_TIMEOUT_MS} ms (at "${st.stage}", ${st.bar}%)`);
    await page.waitForTimeout(150);
  }
  const rec = await page.evaluate(() => window.__vg);
  diag(`stages seen: ${rec.stages.join(' -> ')}`);
  diag(`bar values: ${rec.bars.join(', ')}`);
  const stages = rec.stages.filter((s) => s !== '');
  stages.forEach((s) => assert(STAGE_WORDS.indexOf(s) >= 0, `stage shown in raw form: "${s}"`));
  const middle = stages.filter((s) => s !== 'Waiting in line' && s !== 'Done');
  assert(middle.length >= 2, `fewer than two working stages seen: ${stages.join(', ')}`);
  assert(stages[stages.length - 1] === 'Done', `last stage "${stages[stages.length - 1]}"`);
  const bars = rec.bars;
  for (let i = 1; i < bars.length; i++) assert(bars[i] >= bars[i - 1], `bar went backwards: ${bars.join(',')}`);
  const between = bars.filter((b) => b > 0 && b < 100);
  assert(between.length >= 2, `bar did not move through intermediate values: ${bars.join(',')}`);
  assert(bars[bars.length - 1] === 100, 'bar did not reach 100');
  const title = await page.title();
  assert(/^Done — /.test(title), `tab title when done: ${title}`);
  assert(tookProgressShot, 'no in-progress state seen long enough for a screenshot');
});

test('when done: the video element loads a playable video', async () => {
  const { page } = ctx;
  const src = await page.getAttribute('#player', 'src');
  assert(src, 'player has no src');
  await page.waitForFunction(() => {
    const v = document.getElementById('player');
    return v.error || (v.readyState >= 1 && v.duration > 0);
  }, null, { timeout: 30000 });
  const info = await page.$eval('#player', (v) => ({
    ready: v.readyState, duration: v.duration, error: v.error && v.error.code,
    w: v.videoWidth, h: v.videoHeight, src: v.currentSrc,
  }));
  diag(`player: ${JSON.stringify(info)}`);
  assert(!info.error, `media error ${info.error}`);
  assert(info.ready >= 1 && info.duration > 0, `not loaded: ${JSON.stringify(info)}`);
  assert(info.w > 0 && info.h > 0, 'video has no picture size');
  /* Playing proves the codec works in this browser, not just the container. */
  await page.$eval('#player', (v) => { v.muted = true; return v.play(); });
  await page.waitForFunction(() => document.getElementById('player').currentTime > 0.2, null,
    { timeout: 15000 });
  /* Show a frame from the middle: a Manim scene starts on a black frame. */
  await page.$eval('#player', (v) => new Promise((resolve) => {
    v.pause();
    v.addEventListener('seeked', resolve, { once: true });
    v.currentTime = Math.min(3, v.duration / 2);
  }));
  ctx.shots.push(await shot(page, 'done'));
  await axeCheck(page, 'done');
});

test('the player shows the poster and a captions track that can be turned on and loads its cues', async () => {
  const { page } = ctx;
  const poster = await page.getAttribute('#player', 'poster');
  assert(poster && /\.jpg$/.test(poster), `player poster: ${poster}`);
  const size = await page.evaluate((u) => new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve([img.naturalWidth, img.naturalHeight]);
    img.onerror = () => resolve([0, 0]);
    img.src = u;
  }), poster);
  assert(size[0] > 0 && size[1] > 0, `poster does not load: ${size}`);
  const track = await page.$eval('#player', (v) => {
    const t = v.querySelector('track');
    return t && { kind: t.kind, src: t.getAttribute('src'), n: v.textTracks.length,
      mode: v.textTracks[0] && v.textTracks[0].mode, label: t.label };
  });
  diag(`track: ${JSON.stringify(track)}`);
  assert(track && track.kind === 'captions' && /\.vtt$/.test(track.src), 'no captions track');
  assert(track.n === 1 && track.label, 'the track is not listed with a label for the menu');
  assert(track.mode !== 'showing', 'captions are on before the viewer turns them on');
  /* What the player's captions menu does: turn the track on. */
  await page.$eval('#player', (v) => { v.textTracks[0].mode = 'showing'; });
  await page.waitForFunction(() => {
    const t = document.getElementById('player').textTracks[0];
    return t.cues && t.cues.length > 0;
  }, null, { timeout: 10000 });
  const cues = await page.$eval('#player', (v) => Array.from(v.textTracks[0].cues)
    .map((c) => ({ start: c.startTime, end: c.endTime, text: c.text })));
  diag(`cues: ${cues.length}, first: ${JSON.stringify(cues[0])}`);
  assert(cues[0].start === 0 && cues[0].text.length > 0, `first cue: ${JSON.stringify(cues[0])}`);
  cues.forEach((c, i) => {
    assert(c.end > c.start && (i === 0 || c.start >= cues[i - 1].end - 1e-6), `cue ${i} out of order`);
    c.text.split('\n').forEach((l) => assert(l.length <= 60, `cue line too long: ${l}`));
    assert(c.text.split('\n').length <= 2, `cue of more than two lines: ${c.text}`);
  });
  ctx.shots.push(await shot(page, 'captions'));
});

test('the finished job shows its explanation and a share link that opens it', async () => {
  const { page, browser } = ctx;
  const link = await page.inputValue('#share-link');
  assert(link.endsWith(`#v=${ctx.id}`), `share link ${link}`);
  const href = await page.getAttribute('#video-link', 'href');
  assert(href && href !== '#', `video link ${href}`);
  const q = (await page.textContent('#job-question')).trim();
  assert(q === ctx.question, `question shown: ${q}`);
  const p2 = await browser.newPage();
  try {
    await p2.goto(link);
    await p2.waitForSelector('#job-done', { state: 'visible', timeout: 15000 });
    const src2 = await p2.getAttribute('#player', 'src');
    assert(src2 === await page.getAttribute('#player', 'src'), 'shared page plays another src');
  } finally {
    await p2.close();
  }
});

test('the video is first in the history, marked done, and opens from there', async () => {
  const { page } = ctx;
  const first = page.locator('#history-list button[data-id]').first();
  await page.waitForFunction((id) => {
    const b = document.querySelector('#history-list button[data-id]');
    return b && b.dataset.id === id && /Done/.test(b.textContent);
  }, ctx.id, { timeout: 10000 });
  assert(await first.getAttribute('aria-current') === 'true', 'history does not mark the open video');
  const qtext = await first.locator('.h-q').textContent();
  assert(qtext === ctx.question, `history question: ${qtext}`);
  await first.scrollIntoViewIfNeeded();
  // The thumbnail loads lazily, once in view: the list may be drawn again
  // meanwhile (loadHistory when a job ends), with a new image, so each look brings the
  // current one into view (CI once waited 10 s for an image never shown).
  await page.waitForFunction(() => {
    const img = document.querySelector('#history-list button[data-id] img.h-thumb');
    if (img && !img.complete) img.scrollIntoView({ block: 'nearest' });
    return img && img.complete;
  }, null, { timeout: 20000, polling: 250 });
  const thumb = await first.locator('img.h-thumb').evaluate((img) => img.naturalWidth);
  assert(thumb === 320, `history thumbnail: naturalWidth ${thumb}`);
  await page.click('#new-question');
  assert(await page.locator('#job').isHidden(), 'job panel still shown after "Ask another question"');
  await first.focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('#job-done', { state: 'visible', timeout: 10000 });
  assert(page.url().endsWith(`#v=${ctx.id}`), `URL after opening from history: ${page.url()}`);
});

test('phone-sized screen: no sideways scrolling, controls fit', async () => {
  const { page } = ctx;
  await page.setViewportSize({ width: 375, height: 740 });
  await page.click('#new-question');
  const dims = await page.evaluate(() => ({
    sw: document.documentElement.scrollWidth, w: window.innerWidth,
    submit: document.getElementById('submit').getBoundingClientRect().right,
  }));
  assert(dims.sw <= dims.w, `page is ${dims.sw}px wide on a ${dims.w}px screen`);
  assert(dims.submit <= dims.w, 'submit button off screen');
  ctx.shots.push(await shot(page, 'narrow-form'));
  await page.click('#history-list button[data-id]');
  await page.waitForSelector('#job-done', { state: 'visible', timeout: 10000 });
  const sw = await page.evaluate(() => document.documentElement.scrollWidth);
  assert(sw <= 375, `done view is ${sw}px wide on a 375px screen`);
  ctx.shots.push(await shot(page, 'narrow-done'));
  /* The dark scheme must keep text readable: body text against the card. */
  await page.emulateMedia({ colorScheme: 'dark' });
  const colors = await page.evaluate(() => {
    const card = getComputedStyle(document.getElementById('history'));
    const text = getComputedStyle(document.querySelector('#history h2'));
    return { bg: card.backgroundColor, fg: text.color };
  });
  ctx.shots.push(await shot(page, 'narrow-dark'));
  await axeCheck(page, 'phone, dark');
  await page.emulateMedia({ colorScheme: 'light' });
  const lum = (c) => {
    const v = c.match(/\d+(\.\d+)?/g).slice(0, 3).map((x) => Number(x) / 255)
      .map((x) => (x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4));
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2];
  };
  const [a, b] = [lum(colors.fg), lum(colors.bg)].sort((x, y) => y - x);
  const contrast = (a + 0.05) / (b + 0.05);
  assert(contrast >= 4.5, `dark scheme contrast ${contrast.toFixed(1)} (${colors.fg} on ${colors.bg})`);
  await page.setViewportSize({ width: 1100, height: 900 });
});

test('a question over 10000 characters is refused in the page too', async () => {
  const { page } = ctx;
  await page.click('#new-question');
  const before = ctx.posts.length;
  await page.fill('#prompt', 'a'.repeat(10001));
  const count = (await page.textContent('#prompt-count')).trim();
  assert(/^10,001 \//.test(count), `counter: ${count}`);
  await page.click('#submit');
  await page.waitForSelector('#prompt-error', { state: 'visible', timeout: 5000 });
  const err = (await page.textContent('#prompt-error')).trim();
  assert(/at most 10,000 characters/.test(err), `error text: ${err}`);
  await page.waitForTimeout(300);
  assert(ctx.posts.length === before, 'a too-long question was sent');
});

test("the daemon's own 422 answer is shown, naming the field, and opens no job", async () => {
  const { page } = ctx;
  /* Get past the page's check so the daemon's validation answers. */
  await page.route('**/api/v1/videos', async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    const body = JSON.parse(route.request().postData());
    body.prompt = 'short';
    return route.continue({ postData: JSON.stringify(body) });
  });
  const hash = await page.evaluate(() => location.hash);
  await page.fill('#prompt', 'A long enough question about prime numbers');
  const answer = page.waitForResponse((r) => r.request().method() === 'POST' &&
    new URL(r.url()).pathname === '/api/v1/videos');
  await page.click('#submit');
  const resp = await answer;
  await page.unroute('**/api/v1/videos');
  assert(resp.status() === 422, `daemon answered ${resp.status()} to a 5-character prompt`);
  await page.waitForFunction(() => !document.getElementById('prompt-error').hidden ||
    !document.getElementById('form-error').hidden, null, { timeout: 5000 });
  const shown = await page.evaluate(() => [document.getElementById('prompt-error'),
    document.getElementById('form-error')].filter((e) => !e.hidden).map((e) => e.textContent).join(' '));
  diag(`shown: ${shown}`);
  assert(/prompt/i.test(shown), `the message does not name the field: ${shown}`);
  assert(await page.locator('#job').isHidden(), 'a job panel appeared');
  assert(await page.evaluate(() => location.hash) === hash, 'the URL moved to a job');
  assert(!(await page.locator('#submit').isDisabled()), 'submit stays disabled after the answer');
});

test('with the event stream broken the page polls the status every second', async () => {
  const { page } = ctx;
  await page.route('**/api/v1/videos/*/events', (route) => route.abort());
  const polls = [];
  const onReq = (r) => { if (/\/api\/v1\/videos\/[^/]+\/status$/.test(new URL(r.url()).pathname)) polls.push(Date.now()); };
  page.on('request', onReq);
  try {
    await page.evaluate(() => { window.__vg.stages = []; window.__vg.bars = []; });
    await page.fill('#prompt', QUESTION);
    await page.click('#submit');
    await page.waitForSelector('#job-progress', { state: 'visible', timeout: 10000 });
    await page.waitForFunction(() => window.__vg.stages.filter((s) => s !== 'Waiting in line').length >= 1 ||
      window.__vg.bars.some((b) => b > 0), null, { timeout: JOB_TIMEOUT_MS });
    await page.waitForTimeout(1200);
  } finally {
    page.off('request', onReq);
  }
  const rec = await page.evaluate(() => window.__vg);
  diag(`polled ${polls.length} times; stages seen: ${rec.stages.join(' -> ')}`);
  assert(polls.length >= 2, `status polled ${polls.length} times`);
  const gaps = polls.slice(1).map((t, i) => t - polls[i]);
  assert(gaps.every((g) => g >= 500 && g < 5000), `poll gaps ${gaps.join(',')} ms`);
  ctx.pollingId = /#v=([A-Za-z0-9_-]+)$/.exec(page.url())[1];
});

test('a cancelled job shows the failed state with its message and a working "Try again"', async () => {
  const { page } = ctx;
  const id = ctx.pollingId;
  assert(id && id !== ctx.id, 'no second job open');
  const done = await page.locator('#job-done').isVisible();
  if (!done) await page.click('#cancel');
  await page.waitForSelector('#job-failed', { state: 'visible', timeout: 30000 });
  await page.unroute('**/api/v1/videos/*/events');
  const msg = (await page.textContent('#fail-message')).trim();
  assert(msg.length > 0, 'failed state has no message');
  diag(`failure message: ${msg}`);
  const st = await (await fetch(`${BASE}/api/v1/videos/${id}/status`)).json();
  assert(st.status === 'failed', `daemon says the cancelled job is ${st.status}`);
  ctx.shots.push(await shot(page, 'failed'));
  const posts = ctx.posts.length;
  await page.click('#retry');
  await page.waitForFunction((old) => !location.hash.endsWith(old), id, { timeout: 10000 });
  assert(ctx.posts.length === posts + 1, 'Try again did not send the question again');
  const again = JSON.parse(ctx.posts[ctx.posts.length - 1].postData());
  assert(again.prompt === QUESTION, 'retry sent another question');
  await page.waitForSelector('#job-progress', { state: 'visible', timeout: 10000 });
  await page.click('#cancel'); /* leave the daemon idle */
  await page.waitForSelector('#job-failed', { state: 'visible', timeout: 30000 });
});

test('a job the pipeline fails shows the real reason, and "Try again" resends it', async () => {
  const { page } = ctx;
  /* The test pipeline has no recorded answer for this one: stage 1 fails. */
  const q = 'Why is the sky blue at noon but red at sunset?';
  await page.click('#new-question');
  await page.fill('#prompt', q);
  await page.click('#submit');
  await page.waitForSelector('#job-failed', { state: 'visible', timeout: 30000 });
  const msg = (await page.textContent('#fail-message')).trim();
  diag(`failure message: ${msg}`);
  assert(/recorded answer/i.test(msg), `the failure does not say why: ${msg}`);
  ctx.shots.push(await shot(page, 'failed-pipeline'));
  await axeCheck(page, 'failed');
  assert(await page.locator('#job-progress').isHidden(), 'progress still shown for a failed job');
  assert(await page.locator('#job-done').isHidden(), 'player shown for a failed job');
  const first = page.locator('#history-list button[data-id]').first();
  await page.waitForFunction(() => {
    const b = document.querySelector('#history-list button[data-id]');
    return b && /Failed/.test(b.textContent);
  }, null, { timeout: 10000 });
  assert((await first.locator('.h-q').textContent()) === q, 'the failed job is not first in the history');
  const id = /#v=([A-Za-z0-9_-]+)$/.exec(page.url())[1];
  const posts = ctx.posts.length;
  await page.focus('#retry');
  await page.keyboard.press('Enter');
  await page.waitForFunction((old) => !location.hash.endsWith(old), id, { timeout: 10000 });
  assert(ctx.posts.length === posts + 1, 'Try again sent no POST');
  assert(JSON.parse(ctx.posts[ctx.posts.length - 1].postData()).prompt === q, 'Try again sent another question');
  await page.waitForSelector('#job-failed', { state: 'visible', timeout: 30000 });
});

test('the history pages through older videos with the daemon\'s cursor, newest first', async () => {
  const { page } = ctx;
  const all = await (await fetch(`${BASE}/api/v1/videos?limit=100`)).json();
  const ids = all.videos.map((v) => v.video_id);
  assert(ids.length >= 3, `only ${ids.length} videos on the daemon`);
  /* Pages of two, so a handful of jobs needs several pages. */
  await page.route(/\/api\/v1\/videos\?/, (route) => {
    const u = new URL(route.request().url());
    u.searchParams.set('limit', '2');
    return route.continue({ url: u.href });
  });
  try {
    await page.click('#history-refresh');
    await page.waitForFunction(() => document.querySelectorAll('#history-list button[data-id]').length === 2 &&
      !document.getElementById('history-more').hidden, null, { timeout: 5000 });
    for (let i = 0; i < 10 && await page.locator('#history-more').isVisible(); i++) {
      const n = await page.locator('#history-list button[data-id]').count();
      await page.click('#history-more');
      await page.waitForFunction((k) => document.querySelectorAll('#history-list button[data-id]').length > k ||
        document.getElementById('history-more').hidden, n, { timeout: 5000 });
    }
  } finally {
    await page.unroute(/\/api\/v1\/videos\?/);
  }
  const shown = await page.$$eval('#history-list button[data-id]', (bs) => bs.map((b) => b.dataset.id));
  assert(JSON.stringify(shown) === JSON.stringify(ids),
    `history ${shown.length} items != daemon's ${ids.length}, or another order`);
  const times = all.videos.map((v) => Date.parse(v.created_at));
  for (let i = 1; i < times.length; i++) assert(times[i] <= times[i - 1], 'daemon list not newest first');
  assert(await page.locator('#history-more').isHidden(), '"Show older videos" still offered at the end');
});

test('config and network failures are said in the page, and the form recovers', async () => {
  const p = await ctx.browser.newPage();
  p.on('pageerror', (e) => ctx.errors.push(`config page: ${e.message}`));
  try {
    await p.route('**/api/v1/config', (route) => route.fulfill({
      status: 503, contentType: 'application/json',
      body: JSON.stringify({ detail: 'Busy starting up', error: 'unavailable' }),
    }));
    await p.goto(`${BASE}/`);
    await p.waitForSelector('#form-error', { state: 'visible', timeout: 5000 });
    const err = (await p.textContent('#form-error')).trim();
    assert(/models and voices/.test(err) && /Busy starting up/.test(err), `config error: ${err}`);
    await p.unroute('**/api/v1/config');
    /* Sending loads the config again first; the POST itself is cut here. */
    await p.route('**/api/v1/videos', (route) => (route.request().method() === 'POST'
      ? route.abort('connectionrefused') : route.continue()));
    await p.fill('#prompt', QUESTION);
    await p.click('#submit');
    await p.waitForFunction(() => /reach the server/.test(document.getElementById('form-error').textContent),
      null, { timeout: 5000 });
    const models = await p.$$eval('#model option', (os) => os.map((o) => o.value));
    assert(JSON.stringify(models) === JSON.stringify(ctx.config.models), 'models not loaded on retry');
    assert(!(await p.locator('#submit').isDisabled()), 'submit left disabled after a network error');
    assert(await p.locator('#job').isHidden(), 'a job panel opened without an answer');
  } finally {
    await p.close();
  }
});

test('a daemon that wants an API key: the page asks for it, then sends it', async () => {
  if (!KEYED_URL || !KEYED_KEY) throw new Skip('no key-protected daemon (VIDGEN_KEYED_URL)');
  const p = await ctx.browser.newPage();
  const sent = [];
  p.on('pageerror', (e) => ctx.errors.push(`keyed page: ${e.message}`));
  p.on('request', (r) => {
    const path = new URL(r.url()).pathname;
    if (r.method() === 'POST' || r.method() === 'DELETE') sent.push({ r, path });
  });
  try {
    await p.goto(`${KEYED_URL}/`);
    await p.waitForFunction(() => !document.getElementById('model').disabled);
    assert(await p.locator('#key-field').isHidden(), 'key field shown before the daemon asked');
    await p.fill('#prompt', QUESTION);
    await p.click('#submit');
    await p.waitForSelector('#key-field', { state: 'visible', timeout: 5000 });
    const err = (await p.textContent('#form-error')).trim();
    assert(/API key/.test(err), `message after 401: ${err}`);
    assert(await p.evaluate(() => document.activeElement.id) === 'api-key', 'focus not on the key');
    assert(await p.getByLabel('API key', { exact: true }).count() === 1, 'key input not labelled');
    assert(await p.locator('#job').isHidden(), 'a job opened without a key');
    await p.fill('#api-key', 'wrong-key');
    await p.click('#submit');
    await p.waitForFunction(() => /API key/.test(document.getElementById('form-error').textContent) &&
      !document.getElementById('submit').disabled, null, { timeout: 5000 });
    assert(await p.locator('#job').isHidden(), 'a job opened with a wrong key');
    await p.fill('#api-key', KEYED_KEY);
    await p.click('#submit');
    await p.waitForSelector('#job-progress', { state: 'visible', timeout: 10000 });
    const post = sent.filter((x) => x.r.method() === 'POST').pop();
    const auth = (await post.r.allHeaders()).authorization;
    assert(auth === `Bearer ${KEYED_KEY}`, 'the POST did not carry the key');
    assert(sent.filter((x) => x.r.method() === 'POST').length === 3, `${sent.length} POSTs`);
    /* The key stays for this tab: cancelling needs it too. */
    await p.click('#cancel');
    await p.waitForSelector('#job-failed', { state: 'visible', timeout: 30000 });
    const del = sent.filter((x) => x.r.method() === 'DELETE').pop();
    assert(del, 'no DELETE sent');
    assert((await del.r.allHeaders()).authorization === `Bearer ${KEYED_KEY}`, 'the DELETE did not carry the key');
    const msg = (await p.textContent('#fail-message')).trim();
    assert(/cancel/i.test(msg), `after cancel: ${msg}`);
    assert(p.url().indexOf(KEYED_KEY) < 0, 'the key is in the address');
  } finally {
    await p.close();
  }
});

test('axe-core finds no WCAG 2.1 A/AA problem in any state it looked at', async () => {
  const states = ctx.axe.map((a) => a.name);
  diag(`axe looked at: ${states.join(', ')}`);
  assert(states.length >= 4, `axe ran on only ${states.length} states`);
  const bad = ctx.axe.filter((a) => a.found.length);
  assert(bad.length === 0, bad.map((a) => `${a.name}: ${a.found.join('; ')}`).join(' | '));
});

test('no script errors on the page during the whole run', async () => {
  assert(ctx.errors.length === 0, `page errors: ${ctx.errors.join('; ')}`);
});

/* ---- run ---- */

async function main() {
  process.stdout.write(`1..${cases.length}\n`);
  if (!BASE) {
    cases.forEach((c, i) => process.stdout.write(`not ok ${i + 1} - ${c.name}\n`));
    diag('VIDGEN_URL is not set');
    return 1;
  }
  fs.mkdirSync(OUT, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vidgen-chromium-'));
  let failed = 0;
  let browser = null;
  try {
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1100, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = browser.pages()[0] || await browser.newPage();
    ctx.browser = browser;
    ctx.page = page;
    ctx.errors = [];
    ctx.posts = [];
    ctx.shots = [];
    ctx.axe = [];
    page.on('pageerror', (e) => ctx.errors.push(e.message));
    /* Failed loads are the network's (the test breaks some on purpose), not the script's. */
    page.on('console', (m) => {
      if (m.type() === 'error' && !/^Failed to load resource/.test(m.text()))
        ctx.errors.push(`console: ${m.text()}`);
    });
    page.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/videos') ctx.posts.push(r);
      const u = new URL(r.url());
      if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost' && u.protocol.startsWith('http'))
        ctx.errors.push(`request outside loopback: ${r.url()}`);
    });
    await page.addInitScript(recorderScript);
  } catch (e) {
    diag(`could not start Chromium: ${e.message}`);
    cases.forEach((c, i) => process.stdout.write(`not ok ${i + 1} - ${c.name}\n`));
    return 1;
  }
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    try {
      await c.fn();
      process.stdout.write(`ok ${i + 1} - ${c.name}\n`);
    } catch (e) {
      if (e instanceof Skip) {
        process.stdout.write(`ok ${i + 1} - ${c.name} # SKIP ${e.message}\n`);
        continue;
      }
      failed++;
      process.stdout.write(`not ok ${i + 1} - ${c.name}\n`);
      diag(e && e.stack ? e.stack.split('\n').slice(0, 4).join('\n') : String(e));
      try { await shot(ctx.page, `fail-${i + 1}`); } catch (_) { /* page may be gone */ }
    }
  }
  diag(`screenshots: ${ctx.shots.map((f) => path.relative(process.cwd(), f)).join(' ')}`);
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
  return failed ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => {
  diag(`harness error: ${e.stack || e}`);
  process.exit(1);
});
