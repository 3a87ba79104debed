/* The try-a-captcha page, on the original project's API: GET /api/get-captcha, then GET /api/test-captcha once. */
(function () {
  "use strict";
  var form = document.getElementById("try-form");
  var image = document.getElementById("try-image");
  var input = document.getElementById("try-answer");
  var status = document.getElementById("try-status");
  var checkButton = document.getElementById("try-check");
  var captchaId = null;

  function say(message, kind) {
    status.textContent = message;
    status.className = "try-status" + (kind ? " " + kind : "");
  }

  function getJson(url) {
    return window.fetch(url).then(function (reply) {
      return reply.json().catch(function () { return {}; }).then(function (body) {
        return { ok: reply.ok, status: reply.status, body: body };
      });
    });
  }

  // `notice` stays on screen with the new image (why a new one was loaded).
  function load(notice) {
    captchaId = null;
    checkButton.disabled = true;
    input.value = "";
    say(notice || "Loading a new image…", notice ? "fail" : "");
    return getJson("/api/get-captcha").then(function (reply) {
      if (!reply.ok || !reply.body.captcha) {
        var message = reply.body.error ? reply.body.error.message : "the service answered " + reply.status;
        say("Could not load a captcha: " + message + ".", "fail");
        return;
      }
      captchaId = reply.body.captcha;
      image.src = reply.body.image;
      image.alt = "Captcha image: 6 handwritten characters";
      checkButton.disabled = false;
      if (!notice) {
        say("Type the 6 characters you see, then press Enter or Check.");
      }
    }).catch(function () {
      say("Could not reach the captcha service.", "fail");
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = input.value.replace(/\s+/g, "");
    if (!captchaId) {
      return;
    }
    if (value.length !== 6) {
      say("Type all 6 characters (you typed " + value.length + ").", "fail");
      input.focus();
      return;
    }
    checkButton.disabled = true;
    var query = "?captcha=" + encodeURIComponent(captchaId) + "&value=" + encodeURIComponent(value);
    getJson("/api/test-captcha" + query).then(function (reply) {
      if (reply.body.test === true) {
        captchaId = null;
        say("Passed: you read the known characters right. Your answers for the others count as votes.", "pass");
        document.getElementById("try-new").focus();
        return;
      }
      var why = reply.body.message ? " (" + reply.body.message + ")" : "";
      load("That was not right" + why + ". Here is a new image.").then(function () {
        input.focus();
      });
    }).catch(function () {
      checkButton.disabled = false;
      say("Could not reach the captcha service.", "fail");
    });
  });

  document.getElementById("try-new").addEventListener("click", function () {
    load("").then(function () {
      input.focus();
    });
  });
  load("");
})();
