/*
 * DrCaptcha widget. A site adds one script tag and, inside its form,
 *
 *   <div class="drcaptcha" data-sitekey="dc_site_..."></div>
 *
 * or renders it explicitly (as with Turnstile and reCAPTCHA):
 *
 *   var id = drcaptcha.render(element, {sitekey, callback, "expired-callback", "error-callback", theme, language,
 *                                       action, cData, execution: "render" | "execute", api});
 *   drcaptcha.reset(id); drcaptcha.getResponse(id); drcaptcha.remove(id); drcaptcha.execute(id);
 *
 * The widget shows a challenge, solves its proof of work (SHA-256) in a Web Worker while the visitor reads
 * (docs/DESIGN.md, "Proof of work"), checks the typed answer with POST /v1/answer, and on a pass puts the
 * single-use token in a hidden `drcaptcha-response` field of the form (as Turnstile's cf-turnstile-response). The
 * site's server then redeems that token with POST /v1/siteverify, which returns `action`, `cdata` and
 * `metadata.path` ("glyphs", or "accessible" for the proof-of-work-only path that "I can't read these characters"
 * starts, where the site allows it).
 *
 * Implicit rendering reads the same options from data- attributes: data-sitekey, data-api, data-callback,
 * data-expired-callback, data-error-callback (names of global functions), data-theme (light, dark, auto),
 * data-language (en, de, fr, es; default navigator.language), data-action, data-cdata, data-execution.
 *
 * No framework, no external requests, no eval and no inline script: the styles are injected from this file, and
 * the worker runs this file's own solver from a blob: URL (where a page's CSP forbids blob: workers, the same
 * solver runs on the page, between frames).
 */
(function () {
  "use strict";

  var RESPONSE_FIELD = "drcaptcha-response";
  var EXPIRED_CODE = "timeout-or-duplicate";
  // The token lives this long unless /v1/answer says otherwise (DESIGN.md: 300 s).
  var DEFAULT_TOKEN_SECONDS = 300;
  // Which characters the answer treats as the same (the lookalike groups). Written by bench/derive_lookalikes.py
  // from layers/drcaptcha/python/drcaptcha/lookalikes.json: do not edit by hand.
  var EQUIVALENCE_HINT = "0, O and o count as the same; so do 1, I, L, i and l; so do 5, S and s; so do 9 and q; so do F and f.";

  var TEXT = {
    en: {
      title: "Human check", loadingAlt: "Loading a captcha image", alt: "Captcha image: {n} handwritten characters",
      label: "Type the characters in the image", verify: "Verify", newImage: "New image", newImageLabel: "Get a new image",
      cantRead: "I can’t read these characters", loading: "Loading a new image…",
      prompt: "Type the {n} characters you see, then press Enter or Verify.", checking: "Checking…",
      working: "Checking your browser without characters. This takes a few seconds…",
      verified: "Verified. You can send the form now.", wrong: "That was not right, so here is a new image.",
      typeAll: "Type all {n} characters (you typed {m}).",
      expired: "This challenge has expired. Choose “New image” to get another one.",
      tokenExpired: "Your verification expired before the form was sent. Choose “New image” to verify again.",
      noKey: "This captcha has no site key, so it cannot load.", loadFailed: "Could not load a captcha: {r}. Try a new image.",
      offline: "Could not reach the captcha service. Check your connection and try again.",
      checkFailed: "Could not check the answer: {r}.", status: "the service answered {r}", waiting: "Ready when you are."
    },
    de: {
      title: "Menschen-Check", loadingAlt: "Captcha-Bild wird geladen", alt: "Captcha-Bild: {n} handgeschriebene Zeichen",
      label: "Geben Sie die Zeichen im Bild ein", verify: "Prüfen", newImage: "Neues Bild", newImageLabel: "Ein neues Bild holen",
      cantRead: "Ich kann diese Zeichen nicht lesen", loading: "Ein neues Bild wird geladen…",
      prompt: "Geben Sie die {n} Zeichen ein, dann Enter oder „Prüfen“.", checking: "Wird geprüft…",
      working: "Ihr Browser wird ohne Zeichen geprüft. Das dauert einige Sekunden…",
      verified: "Bestätigt. Sie können das Formular jetzt senden.", wrong: "Das war nicht richtig, hier ist ein neues Bild.",
      typeAll: "Geben Sie alle {n} Zeichen ein (Sie haben {m} eingegeben).",
      expired: "Diese Aufgabe ist abgelaufen. Wählen Sie „Neues Bild“.",
      tokenExpired: "Ihre Bestätigung ist abgelaufen. Wählen Sie „Neues Bild“, um sie zu erneuern.",
      noKey: "Diesem Captcha fehlt der Site-Key.", loadFailed: "Das Captcha konnte nicht geladen werden: {r}.",
      offline: "Der Captcha-Dienst ist nicht erreichbar. Prüfen Sie Ihre Verbindung.",
      checkFailed: "Die Antwort konnte nicht geprüft werden: {r}.", status: "Antwort {r}", waiting: "Bereit."
    },
    fr: {
      title: "Vérification humaine", loadingAlt: "Chargement de l’image", alt: "Image captcha : {n} caractères manuscrits",
      label: "Saisissez les caractères de l’image", verify: "Vérifier", newImage: "Nouvelle image", newImageLabel: "Obtenir une nouvelle image",
      cantRead: "Je ne peux pas lire ces caractères", loading: "Chargement d’une nouvelle image…",
      prompt: "Saisissez les {n} caractères, puis Entrée ou Vérifier.", checking: "Vérification…",
      working: "Vérification de votre navigateur sans caractères. Cela prend quelques secondes…",
      verified: "Vérifié. Vous pouvez envoyer le formulaire.", wrong: "Ce n’était pas correct, voici une nouvelle image.",
      typeAll: "Saisissez les {n} caractères (vous en avez saisi {m}).",
      expired: "Ce défi a expiré. Choisissez « Nouvelle image ».",
      tokenExpired: "Votre vérification a expiré. Choisissez « Nouvelle image » pour recommencer.",
      noKey: "Ce captcha n’a pas de clé de site.", loadFailed: "Impossible de charger le captcha : {r}.",
      offline: "Le service captcha est injoignable. Vérifiez votre connexion.",
      checkFailed: "Impossible de vérifier la réponse : {r}.", status: "réponse {r}", waiting: "Prêt."
    },
    es: {
      title: "Verificación humana", loadingAlt: "Cargando la imagen", alt: "Imagen captcha: {n} caracteres manuscritos",
      label: "Escriba los caracteres de la imagen", verify: "Verificar", newImage: "Nueva imagen", newImageLabel: "Obtener una nueva imagen",
      cantRead: "No puedo leer estos caracteres", loading: "Cargando una nueva imagen…",
      prompt: "Escriba los {n} caracteres y pulse Intro o Verificar.", checking: "Comprobando…",
      working: "Comprobando su navegador sin caracteres. Tarda unos segundos…",
      verified: "Verificado. Ya puede enviar el formulario.", wrong: "No era correcto; aquí tiene una nueva imagen.",
      typeAll: "Escriba los {n} caracteres (ha escrito {m}).",
      expired: "Este desafío ha caducado. Elija «Nueva imagen».",
      tokenExpired: "Su verificación caducó. Elija «Nueva imagen» para verificar de nuevo.",
      noKey: "Este captcha no tiene clave de sitio.", loadFailed: "No se pudo cargar el captcha: {r}.",
      offline: "No se puede contactar con el servicio. Compruebe su conexión.",
      checkFailed: "No se pudo comprobar la respuesta: {r}.", status: "respuesta {r}", waiting: "Listo."
    }
  };

  // document.currentScript exists only while the script first runs, so the default API origin is read now.
  var currentScript = document.currentScript;
  var scriptOrigin = currentScript && currentScript.src ? new URL(currentScript.src, window.location.href).origin : window.location.origin;
  var widgetCount = 0;
  var widgets = {};

  var STYLES = [
    // A percentage width lets a narrow host (a 360 px phone, a grid cell) shrink the widget below 22rem.
    ".drcaptcha{min-width:0;max-width:100%}",
    ".drcaptcha-box{box-sizing:border-box;width:100%;max-width:22rem;padding:.75rem;border:1px solid #8a8f98;",
    "border-radius:.5rem;background:#f7f8fa;color:#1d2228;font:15px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif}",
    ".drcaptcha-box[data-theme=dark]{background:#1d2228;color:#eef0f3;border-color:#6b717b}",
    ".drcaptcha-box *{box-sizing:border-box}",
    ".drcaptcha-title{margin:0 0 .5rem;font-weight:600;font-size:1rem}",
    ".drcaptcha-image{display:block;width:100%;height:auto;min-height:3rem;background:#fff;border:1px solid #c5c9d0;",
    "border-radius:.25rem;image-rendering:auto}",
    ".drcaptcha-box [hidden]{display:none}",
    ".drcaptcha-label{display:block;margin:.5rem 0 .25rem;font-size:.9rem}",
    ".drcaptcha-hint{margin:0 0 .35rem;font-size:.85rem;color:inherit}",
    ".drcaptcha-row{display:flex;flex-wrap:wrap;gap:.5rem}",
    ".drcaptcha-input{flex:1 1 8rem;min-width:0;padding:.45rem .55rem;font:inherit;font-size:1.1rem;letter-spacing:.15em;",
    "border:1px solid #6b717b;border-radius:.25rem;background:#fff;color:#1d2228}",
    ".drcaptcha-button{flex:0 0 auto;padding:.45rem .8rem;font:inherit;border:1px solid #1a4f9c;border-radius:.25rem;",
    "background:#1f5fbf;color:#fff;cursor:pointer}",
    ".drcaptcha-button.drcaptcha-secondary{background:#fff;color:#1a4f9c}",
    ".drcaptcha-link{margin-top:.5rem;padding:0;border:0;background:none;color:inherit;font:inherit;font-size:.9rem;",
    "text-decoration:underline;cursor:pointer}",
    ".drcaptcha-button[disabled]{opacity:.55;cursor:default}",
    ".drcaptcha-box :focus-visible{outline:3px solid #e59400;outline-offset:2px}",
    ".drcaptcha-input:focus{outline:3px solid #e59400;outline-offset:1px}",
    ".drcaptcha-status{min-height:1.4em;margin:.5rem 0 0;font-size:.92rem}",
    ".drcaptcha-box[data-state=checking] .drcaptcha-status::before{content:'';display:inline-block;width:.8em;height:.8em;",
    "margin-right:.4em;border:2px solid currentColor;border-right-color:transparent;border-radius:50%;",
    "animation:drcaptcha-spin .8s linear infinite}",
    "@keyframes drcaptcha-spin{to{transform:rotate(360deg)}}",
    "@media (prefers-reduced-motion:reduce){.drcaptcha-box *,.drcaptcha-box *::before{animation:none!important;transition:none!important}}",
    ".drcaptcha-box[data-state=error] .drcaptcha-status,.drcaptcha-box[data-state=failed] .drcaptcha-status{color:#a4161a}",
    ".drcaptcha-box[data-theme=dark][data-state=error] .drcaptcha-status,.drcaptcha-box[data-theme=dark][data-state=failed] .drcaptcha-status{color:#ffb4b4}",
    ".drcaptcha-box[data-state=expired] .drcaptcha-status{color:#8a4b00;font-weight:600}",
    ".drcaptcha-box[data-theme=dark][data-state=expired] .drcaptcha-status{color:#ffd08a}",
    ".drcaptcha-box[data-state=expired] .drcaptcha-image{opacity:.35}",
    ".drcaptcha-box[data-state=verified]{border-color:#2b7a3d;background:#eef8f0;color:#1d2228}",
    ".drcaptcha-box[data-state=verified] .drcaptcha-status{color:#1e6b31;font-weight:600}"
  ].join("\n");

  // --- proof of work: the first decimal nonce whose SHA-256(salt ":" nonce) has `bits` leading zero bits -------
  // Runs in the worker (from this function's own source) or, where no worker may start, on the page. SHA-256 is
  // computed here, synchronously, not with Web Crypto: crypto.subtle.digest costs a promise and a thread hop per
  // hash, and measured 96,000 hashes/s in Chromium against this loop's 723,000 (bench/bench_pow.py, one run),
  // which sets how much work a visitor's wait buys. The work goes in slices of `batch` hashes, so the page stays
  // responsive where it runs there.
  function solvePow(salt, bits) {
    var K = [
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
      0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
      0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
      0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
    ];
    var prefix = salt + ":";
    var w = new Int32Array(64);
    var words = new Int32Array(16);
    var next = 0;
    var batch = 20000;
    var started = Date.now();
    // The number of leading zero bits of SHA-256(text), text being ASCII (the salt is the challenge id).
    function leadingZeros(text) {
      var length = text.length;
      var blocks = ((length + 8) >> 6) + 1;
      if (words.length !== blocks * 16) {
        words = new Int32Array(blocks * 16);
      } else {
        words.fill(0);
      }
      for (var i = 0; i < length; i++) {
        words[i >> 2] |= (text.charCodeAt(i) & 0xff) << (24 - (i & 3) * 8);
      }
      words[length >> 2] |= 0x80 << (24 - (length & 3) * 8);
      words[blocks * 16 - 1] = length * 8;
      var h0 = 0x6a09e667, h1 = 0xbb67ae85, h2 = 0x3c6ef372, h3 = 0xa54ff53a;
      var h4 = 0x510e527f, h5 = 0x9b05688c, h6 = 0x1f83d9ab, h7 = 0x5be0cd19;
      for (var block = 0; block < blocks; block++) {
        for (var t = 0; t < 64; t++) {
          if (t < 16) {
            w[t] = words[block * 16 + t];
          } else {
            var x = w[t - 15], y = w[t - 2];
            var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
            var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
            w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
          }
        }
        var a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
        for (t = 0; t < 64; t++) {
          var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
          var t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
          var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
          var t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
          h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
        }
        h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
        h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
      }
      var digest = [h0, h1, h2, h3, h4, h5, h6, h7];
      for (i = 0; i < 8; i++) {
        if (digest[i] !== 0) {
          return i * 32 + Math.clz32(digest[i]);
        }
      }
      return 256;
    }
    return new Promise(function (resolve) {
      function slice() {
        for (var end = next + batch; next < end; next++) {
          if (leadingZeros(prefix + next) >= bits) {
            resolve({ nonce: String(next), hashes: next + 1, ms: Date.now() - started });
            return;
          }
        }
        setTimeout(slice, 0);
      }
      slice();
    });
  }

  function workerMain() {
    self.onmessage = function (event) {
      solvePow(event.data.salt, event.data.bits).then(function (result) {
        self.postMessage(result);
      });
    };
  }

  var workerSource = null;

  // Solve in a worker when one can start; otherwise (a CSP without blob: workers) on the page. `holder.worker` lets
  // the widget stop the work of a challenge it has left.
  function solve(salt, bits, holder) {
    if (!bits) {
      return Promise.resolve({ nonce: "0", hashes: 0, ms: 0 });
    }
    return new Promise(function (resolve) {
      var worker = null;
      try {
        workerSource = workerSource || URL.createObjectURL(new Blob([solvePow.toString() + "(" + workerMain.toString() + ")();"], { type: "text/javascript" }));
        worker = new Worker(workerSource);
      } catch (refused) {
        worker = null;
      }
      if (!worker) {
        solvePow(salt, bits).then(resolve);
        return;
      }
      if (holder) {
        holder.worker = worker;
      }
      worker.onmessage = function (event) {
        worker.terminate();
        resolve(event.data);
      };
      worker.onerror = function (event) {
        event.preventDefault();
        worker.terminate();
        solvePow(salt, bits).then(resolve);
      };
      worker.postMessage({ salt: salt, bits: bits });
    });
  }

  // --- the widget -------------------------------------------------------------------------------------------------
  function injectStyles() {
    if (document.getElementById("drcaptcha-styles")) {
      return;
    }
    var style = document.createElement("style");
    style.id = "drcaptcha-styles";
    style.textContent = STYLES;
    (document.head || document.documentElement).appendChild(style);
  }

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      node.setAttribute(name, attributes[name]);
    });
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  function fill(template, values) {
    return template.replace(/\{(\w)\}/g, function (whole, name) {
      return values[name];
    });
  }

  function callable(value) {
    var candidate = typeof value === "string" ? window[value] : value;
    return typeof candidate === "function" ? candidate : null;
  }

  function language(asked) {
    var wanted = [asked].concat(navigator.languages || [navigator.language]);
    for (var i = 0; i < wanted.length; i++) {
      var code = String(wanted[i] || "").slice(0, 2).toLowerCase();
      if (TEXT[code]) {
        return code;
      }
    }
    return "en";
  }

  // The API's error shapes: {"error-codes": [...]} (siteverify style) or {"error": {code, message}}.
  function errorCodes(body) {
    if (body && Array.isArray(body["error-codes"])) {
      return body["error-codes"];
    }
    return body && body.error && body.error.code ? [body.error.code] : [];
  }

  function reason(reply) {
    var body = reply.body;
    return body && body.error && body.error.message ? body.error.message : reply.status;
  }

  function optionsOf(container) {
    var options = {};
    ["sitekey", "api", "callback", "expired-callback", "error-callback", "theme", "language", "action", "cdata", "execution"].forEach(function (name) {
      var value = container.getAttribute("data-" + name);
      if (value !== null) {
        options[name === "cdata" ? "cData" : name] = value;
      }
    });
    return options;
  }

  function Widget(container, options) {
    widgetCount += 1;
    this.id = "drcaptcha-" + widgetCount;
    this.container = container;
    this.options = options;
    this.text = TEXT[language(options.language)];
    this.siteKey = options.sitekey || "";
    this.api = (options.api || scriptOrigin).replace(/\/+$/, "");
    this.challenge = null;
    this.work = null;
    this.deadline = 0;
    this.timer = null;
    this.busy = false;
    this.build();
    if (options.execution !== "execute") {
      this.load("");
    } else {
      this.setState("ready", this.text.waiting);
    }
  }

  Widget.prototype.build = function () {
    var id = this.id;
    var t = this.text;
    var theme = this.options.theme === "dark" || (this.options.theme === "auto" && window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches) ? "dark" : "light";
    var box = element("div", { class: "drcaptcha-box", role: "group", "aria-labelledby": id + "-title", "data-state": "loading", "data-theme": theme, lang: language(this.options.language) });
    var image = element("img", { class: "drcaptcha-image", alt: t.loadingAlt, width: "300", height: "80", draggable: "false" });
    var label = element("label", { class: "drcaptcha-label", for: id + "-input" }, t.label);
    // Visible, and read out with the input (aria-describedby): a visitor need not guess between 0 and O.
    var hint = element("p", { class: "drcaptcha-hint", id: id + "-hint" }, EQUIVALENCE_HINT);
    var row = element("div", { class: "drcaptcha-row" });
    var input = element("input", {
      id: id + "-input", class: "drcaptcha-input", type: "text", inputmode: "text", autocomplete: "off", autocapitalize: "off",
      autocorrect: "off", spellcheck: "false", "aria-describedby": id + "-hint " + id + "-status", "data-form-type": "other"
    });
    var verify = element("button", { type: "button", class: "drcaptcha-button drcaptcha-verify" }, t.verify);
    var refresh = element("button", { type: "button", class: "drcaptcha-button drcaptcha-secondary drcaptcha-refresh", "aria-label": t.newImageLabel }, t.newImage);
    var cantRead = element("button", { type: "button", class: "drcaptcha-link drcaptcha-accessible", hidden: "" }, t.cantRead);
    var status = element("p", { class: "drcaptcha-status", id: id + "-status", role: "status", "aria-live": "polite" });
    var response = element("input", { type: "hidden", name: RESPONSE_FIELD, value: "" });

    [input, verify, refresh].forEach(function (child) {
      row.appendChild(child);
    });
    [element("p", { class: "drcaptcha-title", id: id + "-title" }, t.title), image, label, hint, row, cantRead, status, response].forEach(function (child) {
      box.appendChild(child);
    });
    this.container.appendChild(box);

    this.box = box;
    this.image = image;
    this.glyphParts = [image, label, hint, input, verify];
    this.input = input;
    this.verifyButton = verify;
    this.refreshButton = refresh;
    this.cantRead = cantRead;
    this.status = status;
    this.response = response;

    var widget = this;
    verify.addEventListener("click", function () {
      widget.verify();
    });
    refresh.addEventListener("click", function () {
      widget.load("");
      widget.input.focus();
    });
    cantRead.addEventListener("click", function () {
      widget.load("", true);
    });
    // Enter checks the answer; it must not submit the host form before there is a token.
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        widget.verify();
      }
    });
  };

  Widget.prototype.setState = function (state, message) {
    this.box.setAttribute("data-state", state);
    this.status.textContent = message;
  };

  Widget.prototype.showGlyphs = function (shown) {
    this.glyphParts.forEach(function (part) {
      part.hidden = !shown;
    });
  };

  Widget.prototype.request = function (path, options) {
    return window.fetch(this.api + path, options).then(function (reply) {
      return reply.text().then(function (text) {
        var body = null;
        try {
          body = text ? JSON.parse(text) : null;
        } catch (ignored) {
          body = null;
        }
        return { ok: reply.ok, status: reply.status, body: body };
      });
    });
  };

  Widget.prototype.fail = function (message, code) {
    this.setState("error", message);
    this.notify("error-callback", code);
  };

  // `notice` is shown with the new image: why a new one was needed (a wrong answer, an expired one). `accessible`
  // asks for the proof-of-work-only path, which is answered as soon as the work is done.
  Widget.prototype.load = function (notice, accessible) {
    var widget = this;
    var t = this.text;
    window.clearTimeout(this.timer);
    this.stopWork();
    this.challenge = null;
    this.response.value = "";
    this.input.value = "";
    this.input.disabled = false;
    this.verifyButton.disabled = true;
    this.showGlyphs(!accessible);
    this.setState(notice ? this.box.getAttribute("data-state") : accessible ? "checking" : "loading", notice || (accessible ? t.working : t.loading));
    if (!this.siteKey) {
      this.fail(t.noKey, "missing-sitekey");
      return Promise.resolve();
    }
    var query = "/v1/challenge?sitekey=" + encodeURIComponent(this.siteKey) + (accessible ? "&path=accessible" : "");
    return this.request(query, { method: "GET", credentials: "omit" })
      .then(function (reply) {
        var body = reply.body;
        if (!reply.ok || !body || !body.challenge_id || !body.pow || (!accessible && !body.image)) {
          widget.fail(fill(t.loadFailed, { r: reason(reply) }), errorCodes(body)[0] || "challenge-failed");
          return;
        }
        widget.show(body, notice);
      })
      .catch(function () {
        widget.fail(t.offline, "network-error");
      });
  };

  Widget.prototype.show = function (challenge, notice) {
    var widget = this;
    var t = this.text;
    var length = Number(challenge.length) || 0;
    this.challenge = challenge;
    this.cantRead.hidden = !challenge.accessible_path;
    this.solver = {};
    this.work = solve(challenge.pow.salt, Number(challenge.pow.difficulty) || 0, this.solver);
    var seconds = Number(challenge.expires_in) || 0;
    this.deadline = seconds > 0 ? Date.now() + seconds * 1000 : 0;
    if (seconds > 0) {
      this.timer = window.setTimeout(function () {
        widget.expire();
      }, seconds * 1000);
    }
    if (challenge.path === "accessible") {
      this.send("");
      return;
    }
    this.image.src = challenge.image;
    this.image.alt = fill(t.alt, { n: length });
    this.input.maxLength = length;
    this.verifyButton.disabled = false;
    var prompt = fill(t.prompt, { n: length });
    this.setState(notice ? "failed" : "ready", notice ? notice + " " + prompt : prompt);
  };

  Widget.prototype.stopWork = function () {
    if (this.solver && this.solver.worker) {
      this.solver.worker.terminate();
    }
    this.solver = null;
    this.work = null;
  };

  Widget.prototype.expire = function () {
    window.clearTimeout(this.timer);
    this.stopWork();
    this.challenge = null;
    this.verifyButton.disabled = true;
    this.showGlyphs(true);
    this.setState("expired", this.text.expired);
    this.notify("expired-callback");
  };

  Widget.prototype.verify = function () {
    if (this.busy || this.box.getAttribute("data-state") === "verified") {
      return;
    }
    if (!this.challenge || (this.deadline > 0 && Date.now() >= this.deadline)) {
      if (this.challenge) {
        this.expire();
      }
      this.refreshButton.focus();
      return;
    }
    var answer = this.input.value.replace(/\s+/g, "");
    var length = this.input.maxLength;
    if (answer.length !== length) {
      this.setState("failed", fill(this.text.typeAll, { n: length, m: answer.length }));
      this.input.focus();
      return;
    }
    this.send(answer);
  };

  // Wait for the proof of work (begun when the challenge arrived), then send it with the answer.
  Widget.prototype.send = function (answer) {
    var widget = this;
    var t = this.text;
    var challenge = this.challenge;
    var accessible = challenge.path === "accessible";
    this.busy = true;
    this.verifyButton.disabled = true;
    this.setState("checking", accessible ? t.working : t.checking);
    var body = { challenge_id: challenge.challenge_id, answer: answer };
    if (this.options.action) {
      body.action = this.options.action;
    }
    if (this.options.cData) {
      body.cdata = this.options.cData;
    }
    return this.work
      .then(function (proof) {
        if (widget.challenge !== challenge) {
          return null;
        }
        body.pow_solution = proof.nonce;
        return widget.request("/v1/answer", {
          method: "POST",
          credentials: "omit",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body)
        });
      })
      .then(function (reply) {
        var result = reply && (reply.body || {});
        if (!reply) {
          return;
        }
        if (reply.ok && result.success === true && result.token) {
          widget.pass(result);
        } else if (errorCodes(result).indexOf(EXPIRED_CODE) !== -1) {
          widget.expire();
          widget.refreshButton.focus();
        } else if (reply.ok && result.success === false) {
          return widget.load(t.wrong, accessible).then(function () {
            widget.input.focus();
          });
        } else {
          widget.verifyButton.disabled = false;
          widget.fail(fill(t.checkFailed, { r: reason(reply) }), errorCodes(result)[0] || "answer-failed");
        }
      })
      .catch(function () {
        widget.verifyButton.disabled = false;
        widget.fail(t.offline, "network-error");
      })
      .then(function () {
        widget.busy = false;
      });
  };

  Widget.prototype.pass = function (body) {
    var widget = this;
    window.clearTimeout(this.timer);
    this.challenge = null;
    this.response.value = body.token;
    this.input.disabled = true;
    this.verifyButton.disabled = true;
    this.setState("verified", this.text.verified);
    var seconds = Number(body.expires_in) || DEFAULT_TOKEN_SECONDS;
    this.timer = window.setTimeout(function () {
      widget.response.value = "";
      widget.input.disabled = false;
      widget.showGlyphs(true);
      widget.setState("expired", widget.text.tokenExpired);
      widget.notify("expired-callback");
    }, seconds * 1000);
    this.container.dispatchEvent(new CustomEvent("drcaptcha:verified", { bubbles: true, detail: { token: body.token } }));
    this.notify("callback", body.token);
  };

  Widget.prototype.notify = function (option, value) {
    var callback = callable(this.options[option]);
    if (callback) {
      callback(value);
    }
  };

  Widget.prototype.remove = function () {
    window.clearTimeout(this.timer);
    this.stopWork();
    this.challenge = null;
    this.box.remove();
    delete this.container.drcaptcha;
    delete widgets[this.id];
  };

  // --- the API ------------------------------------------------------------------------------------------------------
  function render(container, options) {
    container = typeof container === "string" ? document.querySelector(container) : container;
    if (!container) {
      return null;
    }
    if (!container.drcaptcha) {
      injectStyles();
      container.drcaptcha = new Widget(container, options || optionsOf(container));
      widgets[container.drcaptcha.id] = container.drcaptcha;
    }
    return container.drcaptcha.id;
  }

  // A widget by the id render returned, by its container (or a selector), or the first one on the page.
  function find(which) {
    if (which === undefined) {
      return widgets[Object.keys(widgets)[0]] || null;
    }
    if (widgets[which]) {
      return widgets[which];
    }
    var container = typeof which === "string" ? document.querySelector(which) : which;
    return container && container.drcaptcha ? container.drcaptcha : null;
  }

  function renderAll() {
    Array.prototype.forEach.call(document.querySelectorAll(".drcaptcha"), function (container) {
      render(container);
    });
  }

  window.drcaptcha = {
    render: render,
    reset: function (which) {
      var widget = find(which);
      return widget ? widget.load("") : null;
    },
    execute: function (which) {
      var widget = find(which);
      return widget && !widget.challenge ? widget.load("") : null;
    },
    getResponse: function (which) {
      var widget = find(which);
      return widget ? widget.response.value : undefined;
    },
    remove: function (which) {
      var widget = find(which);
      if (widget) {
        widget.remove();
      }
    },
    // The solver, for bench/bench_pow.py: hashes per second through this file's own worker.
    solve: solve
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderAll);
  } else {
    renderAll();
  }
})();
