/* CareNav chat widget: the project's own small socket.io client (Engine.IO v4 over WebSocket),
   speaking Rasa's socket.io channel. Nothing is loaded from the internet. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.body.getAttribute("data-config") || "{}");
  var store = window.sessionStorage;
  var KEYS = { token: "carenav.token", session: "carenav.session", log: "carenav.log", who: "carenav.who" };
  var logEl = document.getElementById("chat-log");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-input");
  var connEl = document.getElementById("connection");
  var socket = null;
  var sessionId = null;
  var pending = [];

  function load(key, fallback) {
    try { var v = store.getItem(key); return v === null ? fallback : JSON.parse(v); } catch (e) { return fallback; }
  }
  function save(key, value) { try { store.setItem(key, JSON.stringify(value)); } catch (e) { /* full */ } }

  /* ---------- rendering ---------- */
  var URL_RE = /(https?:\/\/[^\s<>"')]+)/g;
  function appendText(el, text) {
    var parts = String(text).split(URL_RE);
    parts.forEach(function (part, i) {
      if (i % 2 === 1) {
        var a = document.createElement("a");
        a.href = part; a.textContent = part; a.target = "_blank"; a.rel = "noopener noreferrer";
        el.appendChild(a);
      } else if (part) {
        el.appendChild(document.createTextNode(part));
      }
    });
  }

  function render(entry, live) {
    var div = document.createElement("div");
    div.className = "msg " + (entry.who === "me" ? "me" : "bot");
    var label = document.createElement("span");
    label.className = "visually-hidden";
    label.textContent = entry.who === "me" ? "You said: " : "CareNav said: ";
    div.appendChild(label);
    appendText(div, entry.text || "");
    logEl.appendChild(div);
    if (entry.buttons && entry.buttons.length) {
      var group = document.createElement("div");
      group.className = "choices";
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "Choices");
      entry.buttons.forEach(function (b) {
        var btn = document.createElement("button");
        btn.type = "button";
        btn.textContent = b.title;
        btn.disabled = !!entry.used;
        btn.addEventListener("click", function () {
          entry.used = true;
          persistLog();
          Array.prototype.forEach.call(group.querySelectorAll("button"), function (x) { x.disabled = true; });
          send(b.payload, b.title);
        });
        group.appendChild(btn);
      });
      logEl.appendChild(group);
    }
    logEl.scrollTop = logEl.scrollHeight;
  }

  var history = load(KEYS.log, []);
  function persistLog() { save(KEYS.log, history.slice(-200)); }
  function addEntry(entry) { history.push(entry); persistLog(); render(entry, true); }

  /* ---------- socket.io over WebSocket ---------- */
  function MiniSocket(url, auth, handlers) {
    var ws = new WebSocket(url.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket");
    var self = this;
    this.connected = false;
    ws.onmessage = function (ev) {
      var data = String(ev.data);
      var type = data.charAt(0);
      if (type === "0") { ws.send("40" + JSON.stringify(auth || {})); }
      else if (type === "2") { ws.send("3"); }
      else if (type === "4") {
        var sio = data.charAt(1), body = data.slice(2);
        if (sio === "0") { self.connected = true; handlers.connect(); }
        else if (sio === "4") { handlers.error(body); }
        else if (sio === "2") {
          try { var args = JSON.parse(body); handlers.event(args[0], args[1]); } catch (e) { /* ignore */ }
        }
      }
    };
    ws.onclose = function () { self.connected = false; handlers.close(); };
    ws.onerror = function () { /* onclose follows */ };
    this.emit = function (name, payload) { ws.send("42" + JSON.stringify([name, payload])); };
    this.close = function () { ws.onclose = null; ws.close(); };
  }

  function connect() {
    if (socket) { socket.close(); }
    connEl.textContent = "Connecting\u2026";
    var token = load(KEYS.token, null);
    socket = new MiniSocket(cfg.rasaUrl, token ? { token: token } : {}, {
      connect: function () {
        socket.emit("session_request", { session_id: load(KEYS.session, null) });
      },
      event: function (name, payload) {
        if (name === "session_confirm") {
          if (sessionId && payload !== sessionId) { /* the server gave a new chat */ }
          sessionId = payload;
          save(KEYS.session, sessionId);
          var who = load(KEYS.who, null);
          connEl.textContent = who ? "Connected, signed in as " + who + "." : "Connected (not signed in).";
          while (pending.length) { socket.emit("user_uttered", pending.shift()); }
          fetchNotices();
        } else if (name === "bot_uttered" && payload) {
          var buttons = (payload.quick_replies || payload.buttons || []).map(function (b) {
            return { title: b.title, payload: b.payload };
          });
          if (payload.text || buttons.length) { addEntry({ who: "bot", text: payload.text || "", buttons: buttons }); }
          if (payload.attachment) { addEntry({ who: "bot", text: String(payload.attachment.payload && payload.attachment.payload.src || "") }); }
        }
      },
      error: function () { connEl.textContent = "Could not connect. Please reload the page."; },
      close: function () {
        sessionId = null;
        connEl.textContent = "Connection lost. Reconnecting\u2026";
        setTimeout(connect, 2000);
      }
    });
  }

  /* what the care team told the signed-in patient since their last visit, shown once */
  function fetchNotices() {
    var token = load(KEYS.token, null);
    if (!token) { return; }
    fetch("/api/notices", { headers: { "Authorization": "Bearer " + token } })
      .then(function (r) { return r.ok ? r.json() : { notices: [] }; })
      .then(function (body) {
        (body.notices || []).forEach(function (n) { addEntry({ who: "bot", text: n.title + ": " + n.text }); });
      })
      .catch(function () { /* shown at the next visit */ });
  }

  function send(message, shown) {
    addEntry({ who: "me", text: shown || message });
    var data = { message: message, session_id: sessionId };
    if (socket && socket.connected && sessionId) { socket.emit("user_uttered", data); }
    else { pending.push(data); }
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    send(text);
  });

  /* ---------- demo sign-in (stands in for the clinic's own login) ---------- */
  var demo = document.getElementById("demo-signin");
  var select = document.getElementById("patient-select");
  var status = document.getElementById("signin-status");
  var signout = document.getElementById("signout-button");
  function showSignedIn() {
    var who = load(KEYS.who, null);
    signout.hidden = !who;
    status.textContent = who ? "Signed in as " + who + " (demo)." : "Not signed in.";
  }
  if (cfg.demoSignIn) {
    demo.hidden = false;
    fetch("/demo/patients").then(function (r) { return r.json(); }).then(function (body) {
      (body.patients || []).forEach(function (p) {
        var opt = document.createElement("option");
        opt.value = p.id; opt.textContent = p.name;
        select.appendChild(opt);
      });
    });
    document.getElementById("signin-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      fetch("/demo/sign-in", { method: "POST", headers: { "Content-Type": "application/json" },
                               body: JSON.stringify({ patient_id: select.value }) })
        .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
        .then(function (res) {
          if (!res.ok) { status.textContent = "Sign-in failed: " + (res.body.error || "unknown error"); return; }
          if (load(KEYS.who, null) && load(KEYS.who, null) !== res.body.name) {
            history = []; persistLog(); logEl.textContent = ""; save(KEYS.session, null);
          }
          save(KEYS.token, res.body.token);
          save(KEYS.who, res.body.name);
          showSignedIn();
          connect();
          input.focus();
        });
    });
    signout.addEventListener("click", function () {
      [KEYS.token, KEYS.who, KEYS.session, KEYS.log].forEach(function (k) { store.removeItem(k); });
      history = []; logEl.textContent = "";
      showSignedIn();
      connect();
    });
    showSignedIn();
  }

  history.forEach(function (e) { render(e, false); });
  connect();
})();
