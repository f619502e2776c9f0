/*! Axon chat widget. Served by the Axon API at /widget.js; plain JavaScript, no dependencies.
 *
 *   <script src="https://api.example.com/widget.js" data-agent-id="AGENT_ID" async></script>
 *
 * Rules this file keeps (modules/channels/widgetjs_test.go checks some of them):
 * - messages are rendered with textContent only, never as HTML;
 * - no eval, no Function, no inline script or style attribute: it runs under a strict host CSP
 *   (styles come from a constructed stylesheet adopted by the shadow root);
 * - the session token is sent only in the Authorization header of this widget's own requests
 *   to its API (never in a URL, an event, postMessage or a global).
 */
(function () {
  'use strict';

  var script = document.currentScript ||
    document.querySelector('script[data-agent-id][src*="widget"]');
  if (!script) return;
  var agentId = (script.getAttribute('data-agent-id') || '').trim();
  var api;
  try { api = new URL(script.src, location.href).origin; } catch (e) { api = ''; }
  function warn(msg) { if (window.console) console.warn('Axon widget: ' + msg); }
  if (!api || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(agentId)) {
    warn('data-agent-id must be an agent id (a UUID); the widget is not shown.');
    return;
  }
  if (document.querySelector('axon-chat[data-agent-id="' + agentId + '"]')) return; // loaded twice

  var base = api + '/v1/widget/' + agentId;
  var storeKey = 'axon-widget:' + agentId;
  var SESSION_MS = 24 * 3600 * 1000;

  // ---------- small helpers ----------

  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = text;
    return n;
  }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
  function backoff(attempt) { return Math.min(30000, 1000 * Math.pow(2, attempt)) * (0.75 + Math.random() * 0.5); }

  // HTTPError is an answer from the API (not a network failure).
  function HTTPError(status, body, retryAfter) {
    this.status = status;
    this.body = body || {};
    this.retryAfter = retryAfter;
    this.message = (body && body.message) || ('HTTP ' + status);
  }

  function request(method, path, opts) {
    opts = opts || {};
    var headers = { 'Accept': opts.accept || 'application/json' };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    if (opts.auth) headers['Authorization'] = 'Bearer ' + opts.auth;
    return fetch(base + path, {
      method: method, headers: headers, mode: 'cors', credentials: 'omit', referrerPolicy: 'no-referrer', signal: opts.signal,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body)
    }).then(function (res) {
      if (res.ok) return res;
      var ra = parseInt(res.headers.get('Retry-After') || '', 10);
      return res.json().catch(function () { return {}; }).then(function (b) {
        throw new HTTPError(res.status, b, isNaN(ra) ? 0 : ra * 1000);
      });
    });
  }

  // retryable: a network failure (fetch rejects: offline, DNS, reset), 429 or 5xx.
  function retryable(err) {
    if (err && err.name === 'AbortError') return false;
    return !(err instanceof HTTPError) || err.status === 429 || err.status >= 500;
  }

  // readSSE reads a text/event-stream body and calls onFrame({event, data, id}) per frame.
  function readSSE(res, onFrame) {
    var reader = res.body.getReader();
    var dec = new TextDecoder();
    var buf = '';
    function frame(block) {
      var f = { event: 'message', data: '', id: '' };
      var data = [];
      block.split('\n').forEach(function (line) {
        if (line === '' || line.charAt(0) === ':') return;
        var i = line.indexOf(':');
        var k = i < 0 ? line : line.slice(0, i);
        var v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (k === 'data') data.push(v);
        else if (k === 'event') f.event = v;
        else if (k === 'id') f.id = v;
      });
      if (!data.length) return;
      f.data = data.join('\n');
      onFrame(f);
    }
    function pump() {
      return reader.read().then(function (r) {
        if (r.done) { if (buf.trim()) frame(buf); return; }
        buf += dec.decode(r.value, { stream: true }).replace(/\r\n?/g, '\n');
        var i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          var block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          frame(block);
        }
        return pump();
      });
    }
    return pump();
  }

  // ---------- session (localStorage, 24 hours) ----------

  var session = null; // {token, conversationId, visitorId, expiresAt}

  function loadSession() {
    try {
      var s = JSON.parse(localStorage.getItem(storeKey) || 'null');
      if (s && s.token && s.expiresAt > Date.now() + 60000) return s;
      localStorage.removeItem(storeKey);
    } catch (e) { /* storage blocked: the session lives as long as the page */ }
    return null;
  }
  function saveSession(s) {
    try { localStorage.setItem(storeKey, JSON.stringify(s)); } catch (e) { /* ignore */ }
  }
  function dropSession() {
    session = null;
    try { localStorage.removeItem(storeKey); } catch (e) { /* ignore */ }
  }

  var sessionPending = null;
  function ensureSession() {
    if (session) return Promise.resolve(session);
    if (sessionPending) return sessionPending;
    sessionPending = withRetry('Connecting…', function () {
      return request('POST', '/sessions', { body: {} }).then(function (res) { return res.json(); });
    }).then(function (b) {
      var exp = Date.parse(b.expiresAt);
      session = {
        token: b.sessionToken, conversationId: b.conversationId, visitorId: b.visitorId,
        expiresAt: Math.min(isNaN(exp) ? Infinity : exp, Date.now() + SESSION_MS)
      };
      saveSession(session);
      startEvents();
      return session;
    }).finally(function () { sessionPending = null; });
    return sessionPending;
  }

  // withRetry runs fn until it succeeds or fails for good, showing the retry state.
  function withRetry(label, fn, maxAttempts) {
    maxAttempts = maxAttempts || 6;
    var attempt = 0;
    function run() {
      return fn().then(function (v) { setStatus(''); return v; }, function (err) {
        attempt++;
        if (!retryable(err) || attempt >= maxAttempts) { setStatus(''); throw err; }
        var wait = Math.max(err.retryAfter || 0, backoff(attempt - 1));
        countdown(label, wait);
        return sleep(wait).then(run);
      });
    }
    return run();
  }

  // ---------- UI ----------

  var cfg, host, root, panel, log, input, sendBtn, launcher, statusEl, badge;
  var open = false;
  var rendered = {};      // message ids on screen
  var pendingUser = [];   // local USER bubbles waiting for their id (from user_message events)
  var streaming = false;  // an answer is streaming: assistant events wait in heldEvents
  var heldEvents = [];
  var unread = 0;
  var historyLoaded = false;

  function css(c) {
    var w = c.widget || {};
    var color = /^#[0-9a-f]{6}$/i.test(w.primaryColor || '') ? w.primaryColor : '#2563eb';
    var r = Math.max(0, Math.min(32, parseInt(w.cornerRadius, 10) || 0));
    var side = w.position === 'bottom-left' ? 'left' : 'right';
    var shadow = w.shadow === false ? 'none' : '0 8px 32px rgba(0,0,0,.18)';
    // Text on the primary colour: black or white, whichever reads better.
    var n = parseInt(color.slice(1), 16);
    var lum = (0.299 * (n >> 16) + 0.587 * ((n >> 8) & 255) + 0.114 * (n & 255)) / 255;
    var on = lum > 0.6 ? '#111' : '#fff';
    var light = '--bg:#fff;--fg:#1f2328;--muted:#59636e;--bubble:#f0f2f5;--line:#d1d9e0;--sys:#fff8e1;--sysfg:#5c4400;';
    var dark = '--bg:#1e1f22;--fg:#e6e6e6;--muted:#a0a4aa;--bubble:#2b2d31;--line:#3c3f45;--sys:#3a3320;--sysfg:#f2dc9b;';
    var theme = w.theme === 'dark' ? dark : light;
    return [
      ':host{all:initial;position:fixed;z-index:2147483000;bottom:20px;' + side + ':20px;' +
        '--font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;--c:' + color + ';--on:' + on +
        ';--r:' + r + 'px;--shadow:' + shadow + ';' + theme + '}',
      w.theme === 'auto' ? '@media (prefers-color-scheme: dark){:host{' + dark + '}}' : '',
      '*{box-sizing:border-box}',
      // The host page's CSS can reach the host element (and what inherits from it) but not
      // the shadow tree: every inherited text property is set again inside.
      '.panel,.launcher{font:var(--font);letter-spacing:normal;text-transform:none;text-align:left}',
      '[hidden]{display:none!important}',
      '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}',
      'button,textarea{font:inherit;color:inherit}',
      ':focus{outline:none}',
      ':focus-visible{outline:3px solid var(--c);outline-offset:2px}',
      '.launcher{width:56px;height:56px;border-radius:50%;border:0;background:var(--c);color:var(--on);cursor:pointer;' +
        'box-shadow:var(--shadow);display:flex;align-items:center;justify-content:center;position:relative;margin-' + side + ':auto}',
      '.launcher:focus-visible{outline-color:var(--fg);box-shadow:0 0 0 3px var(--bg),var(--shadow)}',
      '.launcher svg{width:28px;height:28px;fill:currentColor}',
      '.badge{position:absolute;top:-2px;' + (side === 'left' ? 'left' : 'right') + ':-2px;min-width:20px;height:20px;border-radius:10px;' +
        'background:#d1242f;color:#fff;font-size:12px;line-height:20px;text-align:center;padding:0 5px}',
      '.panel{position:absolute;bottom:72px;' + side + ':0;width:min(380px,calc(100vw - 40px));' +
        'height:min(600px,calc(100vh - 112px));background:var(--bg);color:var(--fg);border:1px solid var(--line);' +
        'border-radius:var(--r);box-shadow:var(--shadow);display:flex;flex-direction:column;overflow:hidden}',
      'header{background:var(--c);color:var(--on);padding:12px 12px 12px 16px;display:flex;align-items:center;gap:8px}',
      'header h2{font-size:16px;font-weight:600;margin:0;flex:1;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}',
      '.close{background:transparent;border:0;color:var(--on);width:32px;height:32px;border-radius:6px;cursor:pointer;font-size:22px;line-height:1}',
      '.close:focus-visible{outline-color:var(--on)}',
      '.status{padding:6px 12px;font-size:13px;background:var(--sys);color:var(--sysfg);border-bottom:1px solid var(--line)}',
      '.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;overscroll-behavior:contain}',
      '.msg{max-width:85%;padding:8px 12px;border-radius:calc(var(--r) * .75 + 4px);white-space:pre-wrap;overflow-wrap:anywhere}',
      '.msg.user{align-self:flex-end;background:var(--c);color:var(--on)}',
      '.msg.bot,.msg.human{align-self:flex-start;background:var(--bubble)}',
      '.msg .who{display:block;font-size:12px;color:var(--muted);margin-bottom:2px}',
      '.msg.system,.notice{align-self:stretch;max-width:none;background:var(--sys);color:var(--sysfg);font-size:14px}',
      '.notice{padding:6px 10px;border-radius:6px;text-align:center}',
      '.msg.failed{opacity:.7;border:1px dashed #d1242f}',
      '.msg[aria-busy=true]::after{content:"\\258D";animation:b 1s steps(1) infinite}',
      '@keyframes b{50%{opacity:0}}',
      '.retry{margin-top:4px;background:transparent;border:1px solid currentColor;border-radius:6px;padding:2px 8px;cursor:pointer;font-size:13px}',
      'form{display:flex;gap:8px;padding:10px;border-top:1px solid var(--line)}',
      'textarea{flex:1;resize:none;border:1px solid var(--line);border-radius:8px;padding:8px 10px;background:var(--bg);' +
        'max-height:120px;min-height:40px}',
      '.send{border:0;border-radius:8px;background:var(--c);color:var(--on);padding:0 14px;cursor:pointer;font-weight:600}',
      '.send:disabled{opacity:.5;cursor:default}',
      '@media (max-width:480px){:host{bottom:12px;' + side + ':12px}.panel{position:fixed;inset:0;width:auto;height:auto;border-radius:0;border:0}' +
        '.panel:not([hidden])+.launcher{display:none}}',
      '@media (prefers-reduced-motion:reduce){.msg[aria-busy=true]::after{animation:none}}'
    ].join('\n');
  }

  function applyStyles(text) {
    // A constructed stylesheet is not an inline <style>: a host CSP without 'unsafe-inline'
    // in style-src does not block it. Browsers without constructable stylesheets get a
    // <style> element (which such a CSP would block).
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(text);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      root.appendChild(el('style', null, text));
    }
  }

  function icon() {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    var p = document.createElementNS(ns, 'path');
    p.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z');
    svg.appendChild(p);
    return svg;
  }

  function build(c) {
    var w = c.widget || {};
    host = document.createElement('axon-chat');
    host.setAttribute('data-agent-id', agentId);
    root = host.attachShadow({ mode: 'open' });
    applyStyles(css(c));

    var title = w.headerTitle || c.name || 'Chat';
    panel = el('div', 'panel');
    panel.id = 'panel';
    panel.hidden = true;
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-modal', 'false');
    panel.setAttribute('aria-labelledby', 'title');
    var header = el('header');
    var h2 = el('h2', null, title);
    h2.id = 'title';
    var close = el('button', 'close', '\u00d7');
    close.type = 'button';
    close.setAttribute('aria-label', 'Close chat');
    close.addEventListener('click', function () { toggle(false); });
    header.appendChild(h2);
    header.appendChild(close);

    statusEl = el('div', 'status');
    statusEl.setAttribute('role', 'status');
    statusEl.hidden = true;

    log = el('div', 'log');
    log.setAttribute('role', 'log');
    log.setAttribute('aria-live', 'polite');
    log.setAttribute('aria-label', 'Conversation with ' + title);
    log.tabIndex = 0;

    var form = el('form');
    var label = el('label', 'sr', 'Message');
    label.htmlFor = 'input';
    input = el('textarea');
    input.id = 'input';
    input.rows = 1;
    input.maxLength = 4000;
    input.placeholder = w.inputPlaceholder || 'Type your message…';
    input.setAttribute('enterkeyhint', 'send');
    sendBtn = el('button', 'send', 'Send');
    sendBtn.type = 'submit';
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(sendBtn);
    form.addEventListener('submit', function (e) { e.preventDefault(); submit(); });
    input.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    });
    input.addEventListener('input', function () {
      input.style.height = ''; // CSSOM, allowed under CSP (unlike a style attribute)
      if (input.scrollHeight > input.clientHeight) input.style.height = Math.min(120, input.scrollHeight + 2) + 'px';
    });

    panel.appendChild(header);
    panel.appendChild(statusEl);
    panel.appendChild(log);
    panel.appendChild(form);

    launcher = el('button', 'launcher');
    launcher.type = 'button';
    launcher.setAttribute('aria-label', 'Open chat: ' + title);
    launcher.setAttribute('aria-expanded', 'false');
    launcher.setAttribute('aria-controls', 'panel');
    launcher.appendChild(icon());
    badge = el('span', 'badge');
    badge.hidden = true;
    badge.setAttribute('aria-hidden', 'true');
    launcher.appendChild(badge);
    launcher.addEventListener('click', function () { toggle(!open); });

    root.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' && open) { e.stopPropagation(); toggle(false); }
    });

    if (w.greeting) addNotice(w.greeting, 'msg bot greeting');
    root.appendChild(panel);
    root.appendChild(launcher);
    document.body.appendChild(host);
  }

  function toggle(want) {
    open = want;
    panel.hidden = !want;
    launcher.setAttribute('aria-expanded', String(want));
    launcher.setAttribute('aria-label', (want ? 'Close chat: ' : 'Open chat: ') + (cfg.widget.headerTitle || cfg.name || 'Chat'));
    if (want) {
      unread = 0;
      badge.hidden = true;
      input.focus();
      ensureSession().then(loadHistory).catch(showFatal);
      scrollDown();
    } else {
      launcher.focus();
    }
  }

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function addNotice(text, cls) {
    var n = el('div', cls || 'notice', text);
    log.appendChild(n);
    scrollDown();
    return n;
  }

  var ROLE = { USER: 'user', ASSISTANT: 'bot', SYSTEM: 'system', HUMAN_AGENT: 'human' };

  function bubble(role, text, id) {
    var n = el('div', 'msg ' + (ROLE[role] || 'bot'));
    if (role === 'HUMAN_AGENT') n.appendChild(el('span', 'who', 'Support team'));
    var body = el('span', 'text', text);
    n.appendChild(body);
    n.body = body;
    if (id) { n.setAttribute('data-id', id); rendered[id] = n; }
    log.appendChild(n);
    scrollDown();
    if (!open && role !== 'USER') { unread++; badge.textContent = String(unread); badge.hidden = false; }
    return n;
  }

  function setStatus(text) {
    statusEl.textContent = text;
    statusEl.hidden = !text;
  }
  var countdownTimer = null;
  function countdown(label, ms) {
    clearInterval(countdownTimer);
    var until = Date.now() + ms;
    function tick() {
      var s = Math.ceil((until - Date.now()) / 1000);
      if (s <= 0) { clearInterval(countdownTimer); setStatus(label); return; }
      setStatus('Connection problem. Retrying in ' + s + ' s…');
    }
    tick();
    countdownTimer = setInterval(tick, 1000);
  }
  function showFatal(err) {
    setStatus(err && err.status === 404 ? 'This chat is not available.' : 'Could not reach the chat service. Try again later.');
  }

  // history: every page, oldest first, merged by id with what is on screen.
  function loadHistory() {
    if (historyLoaded) return Promise.resolve();
    historyLoaded = true;
    return fetchHistory().catch(function (err) { historyLoaded = false; throw err; });
  }
  function fetchHistory() {
    var items = [];
    function page(cursor, n) {
      var q = '/messages?limit=100' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : '');
      return authed('GET', q).then(function (res) { return res.json(); }).then(function (b) {
        items = items.concat(b.items || []);
        if (b.nextCursor && n < 20) return page(b.nextCursor, n + 1);
      });
    }
    return page('', 0).then(function () {
      items.forEach(function (m) { show(m); });
    });
  }

  // show renders one stored message unless it is on screen.
  function show(m) {
    if (!m || !m.id || rendered[m.id]) return;
    if (m.role === 'USER' && pendingUser.length) {
      var i = pendingUser.findIndex(function (p) { return p.text === m.content; });
      if (i >= 0) {
        var p = pendingUser.splice(i, 1)[0];
        p.node.setAttribute('data-id', m.id);
        rendered[m.id] = p.node;
        return;
      }
    }
    bubble(m.role, m.content, m.id);
  }

  // authed sends a request with the session token; a 401 (expired or revoked session) starts
  // a new session once and repeats the request.
  function authed(method, path, opts, retried) {
    return ensureSession().then(function (s) {
      var o = Object.assign({}, opts || {}, { auth: s.token });
      return request(method, path, o).catch(function (err) {
        if (err instanceof HTTPError && err.status === 401 && !retried) {
          dropSession();
          stopEvents();
          return authed(method, path, opts, true);
        }
        throw err;
      });
    });
  }

  var busy = false;
  function submit() {
    var text = input.value.trim();
    if (!text || busy) return;
    input.value = '';
    input.style.height = '';
    send(text);
  }

  function send(text) {
    busy = true;
    sendBtn.disabled = true;
    var mine = bubble('USER', text);
    pendingUser.push({ text: text, node: mine });
    streaming = true;
    var answer = null;
    var stream = cfg.streaming !== false;

    withRetry('Sending…', function () {
      return authed('POST', '/messages', { body: { content: text, stream: stream }, accept: stream ? 'text/event-stream' : 'application/json' });
    }).then(function (res) {
      var ct = res.headers.get('Content-Type') || '';
      if (ct.indexOf('text/event-stream') < 0) {
        return res.json().then(function (b) {
          if (b.message) finishAnswer(bubble(b.message.role, b.message.content, b.message.id), b.message.id, b.handoff);
        });
      }
      var final = null, failed = null, got = '';
      return readSSE(res, function (f) {
        if (f.event === 'error') {
          try { failed = JSON.parse(f.data); } catch (e) { failed = {}; }
          return;
        }
        if (f.data === '[DONE]') return;
        var c;
        try { c = JSON.parse(f.data); } catch (e) { return; }
        var ch = (c.choices && c.choices[0]) || {};
        var d = ch.delta && ch.delta.content;
        if (d) {
          if (!answer) { answer = bubble('ASSISTANT', ''); answer.setAttribute('aria-busy', 'true'); }
          got += d;
          answer.body.textContent = got;
          scrollDown();
        }
        if (c.axon) final = c.axon;
      }).then(function () {
        if (failed) {
          var msg = failed.message || 'Something went wrong.';
          var id = failed.details && failed.details.messageId;
          if (!answer) answer = bubble('SYSTEM', msg);
          else { answer.body.textContent = msg; answer.className = 'msg system'; }
          answer.removeAttribute('aria-busy');
          if (id) { answer.setAttribute('data-id', id); rendered[id] = answer; }
          return;
        }
        if (!final) throw new HTTPError(0, { message: 'The answer was cut off.' });
        if (!answer) answer = bubble(final.role || 'ASSISTANT', '');
        if (final.content != null) answer.body.textContent = final.content;
        if (final.role === 'SYSTEM') answer.className = 'msg system';
        finishAnswer(answer, final.messageId, final.handoff);
      });
    }).catch(function (err) {
      if (answer) answer.removeAttribute('aria-busy');
      mine.classList.add('failed');
      var note = el('span', 'who', err instanceof HTTPError && err.status && err.status < 500 ? err.message : 'Not sent: connection problem.');
      mine.insertBefore(note, mine.firstChild);
      var again = el('button', 'retry', 'Retry');
      again.type = 'button';
      again.addEventListener('click', function () {
        mine.remove();
        var i = pendingUser.findIndex(function (p) { return p.node === mine; });
        if (i >= 0) pendingUser.splice(i, 1);
        send(text);
      });
      mine.appendChild(again);
    }).then(function () {
      busy = false;
      sendBtn.disabled = false;
      streaming = false;
      var held = heldEvents;
      heldEvents = [];
      held.forEach(onEvent);
      if (open) input.focus();
    });
  }

  function finishAnswer(node, id, handoff) {
    node.removeAttribute('aria-busy');
    if (id) { node.setAttribute('data-id', id); rendered[id] = node; }
    if (handoff) showHandoff();
    scrollDown();
  }

  var handoffShown = false;
  function showHandoff() {
    if (handoffShown) return;
    handoffShown = true;
    addNotice('You are being connected to a person from the team. Their replies will appear here.', 'notice handoff');
  }

  // ---------- live events (human replies, status) over a fetch stream ----------

  var evAbort = null;
  var evRunning = false;
  function startEvents() {
    if (evRunning || !window.ReadableStream) return;
    evRunning = true;
    var attempt = 0;
    var first = true;
    (function loop() {
      if (!evRunning) return;
      evAbort = new AbortController();
      authed('GET', '/events', { accept: 'text/event-stream', signal: evAbort.signal }).then(function (res) {
        attempt = 0;
        if (statusEl.textContent.indexOf('Live updates') === 0) setStatus('');
        // What was missed while disconnected comes from the history.
        if (!first && historyLoaded) fetchHistory().catch(function () {});
        first = false;
        return readSSE(res, function (f) {
          var p;
          try { p = JSON.parse(f.data); } catch (e) { return; }
          onEvent({ type: f.event, payload: p });
        });
      }).catch(function (err) {
        if (err instanceof HTTPError && err.status < 500 && err.status !== 429) {
          evRunning = false; // not a transient failure
          return;
        }
        if (err && err.name === 'AbortError') return;
        attempt++;
        if (attempt > 1) setStatus('Live updates interrupted. Reconnecting…');
      }).then(function () {
        if (!evRunning) return;
        setTimeout(loop, attempt ? backoff(attempt - 1) : 500);
      });
    })();
  }
  function stopEvents() {
    evRunning = false;
    if (evAbort) evAbort.abort();
  }

  function onEvent(e) {
    var p = e.payload || {};
    if (e.type === 'new_message' || e.type === 'user_message') {
      var m = p.message;
      if (!m) return;
      if (streaming && (m.role === 'ASSISTANT' || m.role === 'SYSTEM')) { heldEvents.push(e); return; }
      show(m);
    } else if (e.type === 'conversation_status_changed') {
      if (p.status === 'HANDED_OFF') showHandoff();
      else if (p.status === 'OPEN') handoffShown = false;
      else if (p.status === 'RESOLVED') addNotice('This conversation was marked as resolved.');
    }
  }

  // ---------- start ----------

  function start() {
    var attempt = 0;
    (function load() {
      request('GET', '/config').then(function (res) { return res.json(); }).then(function (c) {
        cfg = c;
        cfg.widget = cfg.widget || {};
        build(cfg);
        session = loadSession();
        if (session) startEvents();
      }).catch(function (err) {
        if (err instanceof HTTPError && err.status === 404) {
          warn('agent ' + agentId + ' was not found or is not active; the widget is not shown.');
          return;
        }
        if (err instanceof HTTPError && err.status === 403) {
          warn('this site (' + location.origin + ') is not among the agent\'s allowed origins; the widget is not shown.');
          return;
        }
        // A CORS refusal looks like a network failure: retry a few times, then give up.
        if (++attempt < 4) { setTimeout(load, 500 * Math.pow(2, attempt - 1)); return; }
        warn('could not load the configuration from ' + api + ' (network error, or this origin is not allowed); the widget is not shown.');
      });
    })();
  }

  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();
