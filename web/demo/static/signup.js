// The demo integrates as a site would: drcaptcha.render with its callbacks (web/widget.js documents the API).
// The action and cData come back from siteverify, so the server can tell which form a token was made for.
(function () {
  "use strict";
  var container = document.getElementById("signup-captcha");
  var note = document.getElementById("captcha-note");
  window.drcaptcha.render(container, {
    sitekey: container.getAttribute("data-sitekey"),
    action: "signup",
    cData: "acme-forum",
    callback: function () {
      note.textContent = "Captcha passed: you can send the form.";
    },
    "expired-callback": function () {
      note.textContent = "The captcha expired: solve it again before sending the form.";
    },
    "error-callback": function (code) {
      note.textContent = "The captcha could not be used (" + code + "). Reload the page to try again.";
    }
  });
})();
