/*
 * DrCaptcha widget. A site adds one script tag and, inside its form,
 *
 *   <div class="drcaptcha" data-sitekey="dc_site_..."></div>
 *
 * The widget shows a challenge, checks the typed answer with POST /v1/answer, and on a pass puts the single-use
 * token in a hidden `drcaptcha-response` field of the form (as reCAPTCHA's g-recaptcha-response and Turnstile's
 * cf-turnstile-response do). The site's server then redeems that token with POST /v1/siteverify.
 *
 * Options (data- attributes on the div):
 *   data-sitekey   the site's public key (required)
 *   data-api       the API's base URL; by default the origin this script was loaded from
 *   data-callback  the name of a global function called with the token after a pass
 *   data-expired-callback  the name of a global function called when a pass token lapses unused
 *
 * No framework, no external requests: the styles are injected from this file.
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

  // document.currentScript exists only while the script first runs, so the default API origin is read now.
  var currentScript = document.currentScript;
  var scriptOrigin = currentScript && currentScript.src ? new URL(currentScript.src, window.location.href).origin : window.location.origin;
  var widgetCount = 0;

  var STYLES = [
    // A percentage width lets a narrow host (a 360 px phone, a grid cell) shrink the widget below 22rem.
    ".drcaptcha{min-width:0;max-width:100%}",
    ".drcaptcha-box{box-sizing:border-box;width:100%;max-width:22rem;padding:.75rem;border:1px solid #8a8f98;",
    "border-radius:.5rem;background:#f7f8fa;color:#1d2228;font:15px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif}",
    ".drcaptcha-box *{box-sizing:border-box}",
    ".drcaptcha-title{margin:0 0 .5rem;font-weight:600;font-size:1rem}",
    ".drcaptcha-image{display:block;width:100%;height:auto;min-height:3rem;background:#fff;border:1px solid #c5c9d0;",
    "border-radius:.25rem;image-rendering:auto}",
    ".drcaptcha-image[hidden]{display:none}",
    ".drcaptcha-label{display:block;margin:.5rem 0 .25rem;font-size:.9rem}",
    ".drcaptcha-hint{margin:0 0 .35rem;font-size:.85rem;color:#3d434b}",
    ".drcaptcha-row{display:flex;flex-wrap:wrap;gap:.5rem}",
    ".drcaptcha-input{flex:1 1 8rem;min-width:0;padding:.45rem .55rem;font:inherit;font-size:1.1rem;letter-spacing:.15em;",
    "border:1px solid #6b717b;border-radius:.25rem;background:#fff;color:inherit}",
    ".drcaptcha-button{flex:0 0 auto;padding:.45rem .8rem;font:inherit;border:1px solid #1a4f9c;border-radius:.25rem;",
    "background:#1f5fbf;color:#fff;cursor:pointer}",
    ".drcaptcha-button.drcaptcha-secondary{background:#fff;color:#1a4f9c}",
    ".drcaptcha-button[disabled]{opacity:.55;cursor:default}",
    ".drcaptcha-box :focus-visible{outline:3px solid #e59400;outline-offset:2px}",
    ".drcaptcha-input:focus{outline:3px solid #e59400;outline-offset:1px}",
    ".drcaptcha-status{min-height:1.4em;margin:.5rem 0 0;font-size:.92rem}",
    ".drcaptcha-box[data-state=error] .drcaptcha-status,.drcaptcha-box[data-state=failed] .drcaptcha-status{color:#a4161a}",
    ".drcaptcha-box[data-state=expired] .drcaptcha-status{color:#8a4b00;font-weight:600}",
    ".drcaptcha-box[data-state=expired] .drcaptcha-image{opacity:.35}",
    ".drcaptcha-box[data-state=verified]{border-color:#2b7a3d;background:#eef8f0}",
    ".drcaptcha-box[data-state=verified] .drcaptcha-status{color:#1e6b31;font-weight:600}",
    ".drcaptcha-visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}"
  ].join("\n");

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

  function globalFunction(name) {
    var candidate = name ? window[name] : null;
    return typeof candidate === "function" ? candidate : null;
  }

  // The API's error shapes: {"error-codes": [...]} (siteverify style) or {"error": {code, message}}.
  function errorCodes(body) {
    if (body && Array.isArray(body["error-codes"])) {
      return body["error-codes"];
    }
    if (body && body.error && body.error.code) {
      return [body.error.code];
    }
    return [];
  }

  function errorMessage(body, fallback) {
    return body && body.error && body.error.message ? body.error.message : fallback;
  }

  function Widget(container) {
    widgetCount += 1;
    var id = "drcaptcha-" + widgetCount;
    this.container = container;
    this.siteKey = container.getAttribute("data-sitekey") || "";
    this.api = (container.getAttribute("data-api") || scriptOrigin).replace(/\/+$/, "");
    this.challenge = null;
    this.deadline = 0;
    this.challengeTimer = null;
    this.tokenTimer = null;
    this.busy = false;
    this.build(id);
    this.load("");
  }

  Widget.prototype.build = function (id) {
    var box = element("div", { class: "drcaptcha-box", role: "group", "aria-labelledby": id + "-title", "data-state": "loading" });
    var title = element("p", { class: "drcaptcha-title", id: id + "-title" }, "Human check");
    var image = element("img", {
      class: "drcaptcha-image",
      alt: "Loading a captcha image",
      width: "300",
      height: "80",
      draggable: "false"
    });
    var label = element("label", { class: "drcaptcha-label", for: id + "-input" }, "Type the characters in the image");
    // Visible, and read out with the input (aria-describedby): a visitor need not guess between 0 and O.
    var hint = element("p", { class: "drcaptcha-hint", id: id + "-hint" }, EQUIVALENCE_HINT);
    var row = element("div", { class: "drcaptcha-row" });
    var input = element("input", {
      id: id + "-input",
      class: "drcaptcha-input",
      type: "text",
      inputmode: "text",
      autocomplete: "off",
      autocapitalize: "off",
      autocorrect: "off",
      spellcheck: "false",
      "aria-describedby": (EQUIVALENCE_HINT ? id + "-hint " : "") + id + "-status",
      "data-form-type": "other"
    });
    var verify = element("button", { type: "button", class: "drcaptcha-button drcaptcha-verify" }, "Verify");
    var refresh = element("button", {
      type: "button",
      class: "drcaptcha-button drcaptcha-secondary drcaptcha-refresh",
      "aria-label": "Get a new image"
    }, "New image");
    var status = element("p", { class: "drcaptcha-status", id: id + "-status", role: "status", "aria-live": "polite" });
    var response = element("input", { type: "hidden", name: RESPONSE_FIELD, value: "" });

    row.appendChild(input);
    row.appendChild(verify);
    row.appendChild(refresh);
    var children = EQUIVALENCE_HINT ? [title, image, label, hint, row, status, response] : [title, image, label, row, status, response];
    children.forEach(function (child) {
      box.appendChild(child);
    });
    this.container.appendChild(box);

    this.box = box;
    this.image = image;
    this.input = input;
    this.verifyButton = verify;
    this.refreshButton = refresh;
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

  Widget.prototype.clearTimers = function () {
    window.clearTimeout(this.challengeTimer);
    window.clearTimeout(this.tokenTimer);
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

  // `notice` is shown with the new image: why a new one was needed (a wrong answer, an expired one).
  Widget.prototype.load = function (notice) {
    var widget = this;
    this.clearTimers();
    this.challenge = null;
    this.response.value = "";
    this.input.value = "";
    this.input.disabled = false;
    this.verifyButton.disabled = true;
    this.setState(notice ? this.box.getAttribute("data-state") : "loading", notice || "Loading a new image…");
    if (!this.siteKey) {
      this.setState("error", "This captcha has no data-sitekey, so it cannot load.");
      return Promise.resolve();
    }
    return this.request("/v1/challenge?sitekey=" + encodeURIComponent(this.siteKey), { method: "GET", credentials: "omit" })
      .then(function (reply) {
        var body = reply.body;
        if (!reply.ok || !body || !body.challenge_id || !body.image) {
          widget.setState("error", "Could not load a captcha: " + errorMessage(body, "the service answered " + reply.status) + ". Try a new image.");
          return;
        }
        widget.show(body, notice);
      })
      .catch(function () {
        widget.setState("error", "Could not reach the captcha service. Check your connection and try a new image.");
      });
  };

  Widget.prototype.show = function (challenge, notice) {
    var widget = this;
    var length = Number(challenge.length) || 6;
    this.challenge = challenge;
    this.image.src = challenge.image;
    this.image.alt = "Captcha image: " + length + " handwritten characters";
    this.input.maxLength = length;
    this.input.setAttribute("maxlength", String(length));
    this.verifyButton.disabled = false;
    var seconds = Number(challenge.expires_in) || 0;
    if (seconds > 0) {
      this.deadline = Date.now() + seconds * 1000;
      this.challengeTimer = window.setTimeout(function () {
        widget.expire();
      }, seconds * 1000);
    } else {
      this.deadline = 0;
    }
    var prompt = "Type the " + length + " characters you see, then press Enter or Verify.";
    this.setState(notice ? "failed" : "ready", notice ? notice + " " + prompt : prompt);
  };

  Widget.prototype.expired = function () {
    return this.deadline > 0 && Date.now() >= this.deadline;
  };

  Widget.prototype.expire = function () {
    this.clearTimers();
    this.challenge = null;
    this.verifyButton.disabled = true;
    this.setState("expired", "This challenge has expired. Choose “New image” to get another one.");
  };

  Widget.prototype.verify = function () {
    var widget = this;
    if (this.busy || this.box.getAttribute("data-state") === "verified") {
      return;
    }
    if (!this.challenge || this.expired()) {
      if (this.challenge) {
        this.expire();
      }
      this.refreshButton.focus();
      return;
    }
    var answer = this.input.value.replace(/\s+/g, "");
    var length = this.input.maxLength;
    if (answer.length !== length) {
      this.setState("failed", "Type all " + length + " characters (you typed " + answer.length + ").");
      this.input.focus();
      return;
    }
    this.busy = true;
    this.verifyButton.disabled = true;
    this.setState("checking", "Checking…");
    this.request("/v1/answer", {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ challenge_id: this.challenge.challenge_id, answer: answer })
    })
      .then(function (reply) {
        var body = reply.body || {};
        if (reply.ok && body.success === true && body.token) {
          widget.pass(body);
        } else if (errorCodes(body).indexOf(EXPIRED_CODE) !== -1) {
          widget.expire();
          widget.refreshButton.focus();
        } else if (reply.ok && body.success === false) {
          return widget.load("That was not right, so here is a new image.").then(function () {
            widget.input.focus();
          });
        } else {
          widget.verifyButton.disabled = false;
          widget.setState("error", "Could not check the answer: " + errorMessage(body, "the service answered " + reply.status) + ".");
        }
      })
      .catch(function () {
        widget.verifyButton.disabled = false;
        widget.setState("error", "Could not reach the captcha service. Check your connection and try again.");
      })
      .then(function () {
        widget.busy = false;
      });
  };

  Widget.prototype.pass = function (body) {
    var widget = this;
    this.clearTimers();
    this.response.value = body.token;
    this.input.disabled = true;
    this.verifyButton.disabled = true;
    this.setState("verified", "Verified. You can send the form now.");
    var seconds = Number(body.expires_in) || DEFAULT_TOKEN_SECONDS;
    this.tokenTimer = window.setTimeout(function () {
      widget.response.value = "";
      widget.input.disabled = false;
      widget.setState("expired", "Your verification expired before the form was sent. Choose “New image” to verify again.");
      widget.notify("data-expired-callback", null);
    }, seconds * 1000);
    this.container.dispatchEvent(new CustomEvent("drcaptcha:verified", { bubbles: true, detail: { token: body.token } }));
    this.notify("data-callback", body.token);
  };

  Widget.prototype.notify = function (attribute, value) {
    var callback = globalFunction(this.container.getAttribute(attribute));
    if (callback) {
      callback(value);
    }
  };

  function render(container) {
    if (!container || container.drcaptcha) {
      return container ? container.drcaptcha : null;
    }
    injectStyles();
    container.drcaptcha = new Widget(container);
    return container.drcaptcha;
  }

  function renderAll() {
    Array.prototype.forEach.call(document.querySelectorAll(".drcaptcha"), render);
  }

  window.drcaptcha = {
    render: render,
    reset: function (container) {
      var widget = render(container);
      return widget ? widget.load("") : null;
    },
    getResponse: function (container) {
      var widget = render(container);
      return widget ? widget.response.value : "";
    }
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", renderAll);
  } else {
    renderAll();
  }
})();
