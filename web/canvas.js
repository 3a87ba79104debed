/*
 * The draw-a-character page: strokes on a canvas (mouse, touch and pen through pointer events), sent as a PNG
 * data URL to POST /v1/recognize, which answers {predictions: [{label, probability}, ...], best, threshold}: the top
 * 3 with p > threshold (0.1), and the best guess whatever its probability. The page always shows a guess: the
 * predictions, or, when none passes the threshold, the best guess marked as unsure.
 */
(function () {
  "use strict";
  var canvas = document.getElementById("pad");
  var context = canvas.getContext("2d");
  var recognizeButton = document.getElementById("recognize");
  var clearButton = document.getElementById("clear");
  var status = document.getElementById("canvas-status");
  var list = document.getElementById("predictions");
  // Pause after the last stroke before asking the networks, so a multi-stroke character is read once.
  var RECOGNIZE_DELAY_MS = 400;
  var drawing = false;
  var hasInk = false;
  var timer = null;
  var lastPoint = null;

  function resetCanvas() {
    // Opaque white with black ink, as a person draws; /v1/recognize turns it into EMNIST's form (light ink on
    // black, cropped, centred, 28x28), as it must for any PNG a client sends.
    context.fillStyle = "#ffffff";
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.strokeStyle = "#000000";
    context.lineWidth = Math.round(canvas.width / 14);
    context.lineCap = "round";
    context.lineJoin = "round";
    hasInk = false;
    recognizeButton.disabled = true;
    list.textContent = "";
    status.textContent = "Draw a character to start.";
  }

  function point(event) {
    var box = canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) * canvas.width) / box.width,
      y: ((event.clientY - box.top) * canvas.height) / box.height
    };
  }

  function dot(at) {
    context.beginPath();
    context.arc(at.x, at.y, context.lineWidth / 2, 0, 2 * Math.PI);
    context.fillStyle = "#000000";
    context.fill();
  }

  canvas.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    window.clearTimeout(timer);
    canvas.setPointerCapture(event.pointerId);
    drawing = true;
    lastPoint = point(event);
    dot(lastPoint);
    hasInk = true;
    recognizeButton.disabled = false;
  });

  canvas.addEventListener("pointermove", function (event) {
    if (!drawing) {
      return;
    }
    var next = point(event);
    context.beginPath();
    context.moveTo(lastPoint.x, lastPoint.y);
    context.lineTo(next.x, next.y);
    context.stroke();
    lastPoint = next;
  });

  function endStroke() {
    if (!drawing) {
      return;
    }
    drawing = false;
    timer = window.setTimeout(recognize, RECOGNIZE_DELAY_MS);
  }

  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);

  function percent(probability) {
    return (probability * 100).toFixed(1) + "%";
  }

  function predictionItem(prediction, unsure) {
    var item = document.createElement("li");
    var label = document.createElement("span");
    label.className = "label";
    label.textContent = prediction.label;
    var meter = document.createElement("meter");
    meter.min = 0;
    meter.max = 1;
    meter.value = prediction.probability;
    meter.setAttribute("aria-label", "Probability of " + prediction.label);
    var value = document.createElement("span");
    value.className = "probability";
    value.textContent = percent(prediction.probability);
    item.appendChild(label);
    item.appendChild(meter);
    item.appendChild(value);
    if (unsure) {
      item.className = "unsure";
      var mark = document.createElement("span");
      mark.className = "unsure-mark";
      mark.textContent = "unsure";
      item.appendChild(mark);
    }
    return item;
  }

  function show(body) {
    var predictions = body.predictions;
    var best = body.best;
    var threshold = typeof body.threshold === "number" ? body.threshold : 0.1;
    list.textContent = "";
    if (predictions.length) {
      predictions.forEach(function (prediction) { list.appendChild(predictionItem(prediction, false)); });
      status.textContent = "Top " + predictions.length + ": " +
        predictions.map(function (p) { return p.label + " " + percent(p.probability); }).join(", ") + ".";
    } else if (best) {
      list.appendChild(predictionItem(best, true));
      status.textContent = "Best guess: " + best.label + " " + percent(best.probability) + ", unsure: no class has a " +
        "probability above " + percent(threshold) + ". Try drawing it larger.";
    } else {
      status.textContent = "The networks are not sure: no class has a probability above " + percent(threshold) +
        ". Try drawing it larger.";
    }
  }

  // The drawing is sent at 128x128, the resolution of the NIST forms EMNIST was made from: a third of the bytes
  // of the 280x280 pad, and half the server's decoding time, for the same 28x28 glyph (docs/BENCHMARKS.md).
  var UPLOAD_SIDE = 128;

  function uploadImage() {
    var small = document.createElement("canvas");
    small.width = UPLOAD_SIDE;
    small.height = UPLOAD_SIDE;
    var smallContext = small.getContext("2d");
    smallContext.imageSmoothingEnabled = true;
    smallContext.imageSmoothingQuality = "high";
    smallContext.drawImage(canvas, 0, 0, UPLOAD_SIDE, UPLOAD_SIDE);
    return small.toDataURL("image/png");
  }

  function recognize() {
    window.clearTimeout(timer);
    if (!hasInk) {
      return;
    }
    status.textContent = "Reading…";
    window.fetch("/v1/recognize", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ image: uploadImage() })
    })
      .then(function (reply) {
        return reply.json().catch(function () { return null; }).then(function (body) {
          if (!reply.ok || !body || !Array.isArray(body.predictions)) {
            var message = body && body.error && body.error.message ? body.error.message : "the service answered " + reply.status;
            status.textContent = "Could not read the drawing: " + message + ".";
            return;
          }
          show(body);
        });
      })
      .catch(function () {
        status.textContent = "Could not reach the recognition service.";
      });
  }

  recognizeButton.addEventListener("click", recognize);
  clearButton.addEventListener("click", resetCanvas);
  resetCanvas();
})();
