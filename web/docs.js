/* The API docs page: swagger-ui (copied from npm into /vendor by `make web-vendor`) renders /openapi.json. */
(function () {
  "use strict";
  var status = document.getElementById("docs-status");
  if (typeof window.SwaggerUIBundle !== "function") {
    status.textContent = "The API viewer is missing: run `make web-vendor` to copy swagger-ui into web/vendor/. " +
      "The raw description is at /openapi.json.";
    status.className = "error";
    return;
  }
  window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    // Off: a deep link is an <a> inside each operation's <button>, a nested control that keyboards and screen
    // readers cannot reach (axe-core's nested-interactive; tests/e2e/test_a11y.py).
    deepLinking: false,
    // No request to the public validator service: the pages make no external requests.
    validatorUrl: null,
    onComplete: function () {
      status.textContent = "";
      status.hidden = true;
      var servers = document.getElementById("servers");
      if (servers) {
        servers.setAttribute("aria-label", "Server");
      }
    }
  });
})();
