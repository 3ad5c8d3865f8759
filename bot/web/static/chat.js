/* CareNav chat widget: the project's own small socket.io client (Engine.IO v4 over WebSocket),
   speaking Rasa's socket.io channel. Nothing is loaded from the internet.
   The page speaks English or Spanish (the language button; `?lang=es` in the address too): its
   own words are in TEXTS, and each message carries the choice as metadata {"language": "es"}. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.body.getAttribute("data-config") || "{}");
  var store = window.sessionStorage;
  var KEYS = { token: "carenav.token", session: "carenav.session", log: "carenav.log", who: "carenav.who",
               lang: "carenav.lang", notices: "carenav.notices" };
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

  /* ---------- the page's language ---------- */
  var TEXTS = {
    en: {
      skip: "Skip to the chat", portal: "Patient portal", callUs: "Call us:", emergency: "Emergency",
      demoTitle: "Demo sign-in",
      demoNote: "For demonstration only: this stands in for the clinic's own login. Pick a demo patient to chat as them.",
      demoPatient: "Demo patient", signIn: "Sign in (demo)", signOut: "Sign out",
      signedIn: "Signed in as {who} (demo).", notSignedIn: "Not signed in.", signInFailed: "Sign-in failed: {error}",
      unknownError: "unknown error",
      chatTitle: "Ask CareNav", chatNote: "An automated care guide. It cannot give medical advice.",
      log: "Conversation with CareNav", yourMessage: "Your message",
      placeholder: "Type your question, e.g. why was I referred?", send: "Send",
      youSaid: "You said: ", botSaid: "CareNav said: ", choices: "Choices",
      connecting: "Connecting\u2026", connectedAs: "Connected, signed in as {who}.",
      connected: "Connected (not signed in).", failed: "Could not connect. Please reload the page.",
      lost: "Connection lost. Reconnecting\u2026",
      switchTo: "Español", switchLang: "es", switchLabel: "Ver esta página en español"
    },
    es: {
      skip: "Ir al chat", portal: "Portal del paciente", callUs: "Llámenos:", emergency: "Emergencia",
      demoTitle: "Inicio de sesión de demostración",
      demoNote: "Solo para demostración: reemplaza el inicio de sesión de la clínica. Elija un paciente de demostración para chatear como esa persona.",
      demoPatient: "Paciente de demostración", signIn: "Iniciar sesión (demo)", signOut: "Cerrar sesión",
      signedIn: "Sesión iniciada como {who} (demo).", notSignedIn: "No ha iniciado sesión.",
      signInFailed: "No se pudo iniciar sesión: {error}", unknownError: "error desconocido",
      chatTitle: "Pregúntele a CareNav", chatNote: "Una guía de atención automática. No puede dar consejos médicos.",
      log: "Conversación con CareNav", yourMessage: "Su mensaje",
      placeholder: "Escriba su pregunta, por ejemplo: ¿por qué me refirieron?", send: "Enviar",
      youSaid: "Usted dijo: ", botSaid: "CareNav dijo: ", choices: "Opciones",
      connecting: "Conectando\u2026", connectedAs: "Conectado, sesión iniciada como {who}.",
      connected: "Conectado (sin iniciar sesión).", failed: "No se pudo conectar. Vuelva a cargar la página.",
      lost: "Se perdió la conexión. Reconectando\u2026",
      switchTo: "English", switchLang: "en", switchLabel: "View this page in English"
    }
  };
  var fromAddress = (/[?&]lang=(en|es)\b/.exec(window.location.search) || [])[1];
  var lang = fromAddress || load(KEYS.lang, "en");
  if (!TEXTS[lang]) { lang = "en"; }
  var clinicName = document.getElementById("clinic-name").textContent;
  function t(key, values) {
    var words = TEXTS[lang][key] || TEXTS.en[key] || "";
    return words.replace(/\{(\w+)\}/g, function (all, name) { return values && name in values ? values[name] : all; });
  }

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
    label.textContent = entry.who === "me" ? t("youSaid") : t("botSaid");
    div.appendChild(label);
    appendText(div, entry.text || "");
    logEl.appendChild(div);
    if (entry.buttons && entry.buttons.length) {
      var group = document.createElement("div");
      group.className = "choices";
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", t("choices"));
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

  var connState = "connecting";
  function showConnection(state) {
    connState = state || connState;
    var who = load(KEYS.who, null);
    if (connState === "connected") { connEl.textContent = who ? t("connectedAs", { who: who }) : t("connected"); }
    else { connEl.textContent = t(connState); }
  }

  function connect() {
    if (socket) { socket.close(); }
    showConnection("connecting");
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
          showConnection("connected");
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
      error: function () { showConnection("failed"); },
      close: function () {
        sessionId = null;
        showConnection("lost");
        setTimeout(connect, 2000);
      }
    });
  }

  /* what the care team told the signed-in patient since their last visit: shown once, then the
     page says so (a page closed before that shows it again at the next visit, never loses it) */
  function fetchNotices() {
    var token = load(KEYS.token, null);
    if (!token) { return; }
    var auth = { "Authorization": "Bearer " + token };
    fetch("/api/notices", { headers: auth })
      .then(function (r) { return r.ok ? r.json() : { notices: [] }; })
      .then(function (body) {
        var shown = load(KEYS.notices, []);
        var ids = [];
        (body.notices || []).forEach(function (n) {
          if (shown.indexOf(n.id) < 0) { addEntry({ who: "bot", text: n.title + ": " + n.text }); shown.push(n.id); }
          ids.push(n.id);
        });
        save(KEYS.notices, shown.slice(-200));
        if (ids.length) {
          fetch("/api/notices/seen", { method: "POST", headers: { "Authorization": auth.Authorization,
                "Content-Type": "application/json" }, body: JSON.stringify({ ids: ids }) });
        }
      })
      .catch(function () { /* shown at the next visit */ });
  }

  function send(message, shown) {
    addEntry({ who: "me", text: shown || message });
    var data = { message: message, session_id: sessionId, metadata: { language: lang } };
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
  var signInError = null;
  function showSignedIn() {
    var who = load(KEYS.who, null);
    signout.hidden = !who;
    if (signInError !== null) { status.textContent = t("signInFailed", { error: signInError || t("unknownError") }); }
    else { status.textContent = who ? t("signedIn", { who: who }) : t("notSignedIn"); }
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
          if (!res.ok) { signInError = res.body.error || ""; showSignedIn(); return; }
          signInError = null;
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
      signInError = null;
      [KEYS.token, KEYS.who, KEYS.session, KEYS.log].forEach(function (k) { store.removeItem(k); });
      history = []; logEl.textContent = "";
      showSignedIn();
      connect();
    });
    showSignedIn();
  }

  /* ---------- switching the page's language ---------- */
  var langButton = document.getElementById("language-button");
  var emergency = document.getElementById("emergency");
  function each(selector, fn) { Array.prototype.forEach.call(document.querySelectorAll(selector), fn); }
  function applyLanguage() {
    document.documentElement.lang = lang;
    document.title = clinicName + " - " + t("portal");
    each("[data-i18n]", function (el) { el.textContent = t(el.getAttribute("data-i18n")); });
    each("[data-i18n-placeholder]", function (el) { el.placeholder = t(el.getAttribute("data-i18n-placeholder")); });
    each("[data-i18n-aria-label]", function (el) { el.setAttribute("aria-label", t(el.getAttribute("data-i18n-aria-label"))); });
    emergency.insertBefore(document.getElementById("emergency-" + lang), emergency.firstElementChild);
    langButton.textContent = t("switchTo");
    langButton.lang = t("switchLang");
    langButton.setAttribute("aria-label", t("switchLabel"));
    showConnection();
    if (cfg.demoSignIn) { showSignedIn(); }
    logEl.textContent = "";
    history.forEach(function (e) { render(e, false); });
  }
  langButton.addEventListener("click", function () {
    lang = t("switchLang");
    save(KEYS.lang, lang);
    applyLanguage();
  });

  applyLanguage();
  connect();
})();
