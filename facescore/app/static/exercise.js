// facescore exercise page: the camera shown as a mirror, its frames sent to this app over a
// WebSocket (this computer only) and measured there; the server's answers drive the prompt
// and the bars. The movements, prompts and timing come from the page (the protocol module),
// never from this script.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("exercise-config").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var $ = function (id) { return document.getElementById(id); };
  var video = $("camera"), stage = $("stage"), status = $("status");
  var startButton = $("start-button"), pauseButton = $("pause-button");
  var skipButton = $("skip-button"), stopButton = $("stop-button");
  var bars = { left: $("bar-left"), right: $("bar-right") };
  var canvas = document.createElement("canvas");
  var context = canvas.getContext("2d");
  var socket = null, stream = null, running = false, finished = false;
  var sent = 0, answered = 0, dropped = 0, lastSent = -Infinity, encoding = false;
  var latencies = [];
  var interval = 1000 / config.fps;
  var labels = {};
  config.movements.forEach(function (m) { labels[m.name] = m.label; });

  function say(message, isError) {
    status.textContent = message;
    status.className = "small " + (isError ? "error" : "muted");
  }

  function setButtons(live) {
    startButton.disabled = live;
    pauseButton.disabled = skipButton.disabled = stopButton.disabled = !live;
  }

  function fixed(value, digits) {
    return value === null || value === undefined ? "–" : value.toFixed(digits);
  }

  function percentile(values, q) {
    if (!values.length) return null;
    var sorted = values.slice().sort(function (a, b) { return a - b; });
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  }

  // ---- frames out: at most config.fps a second, at most two unanswered (a frame that
  // would only wait is stale: the server measures the newest and drops the rest)
  function sendFrame(now, captured) {
    if (!running || !socket || socket.readyState !== WebSocket.OPEN) return;
    if (encoding || now - lastSent < interval - 4 || sent - answered - dropped >= 2) return;
    var width = video.videoWidth, height = video.videoHeight;
    if (!width || !height) return;
    var scale = Math.min(1, config.max_side / Math.max(width, height));
    canvas.width = Math.round(width * scale); canvas.height = Math.round(height * scale);
    // Drawn as the camera sees it (not mirrored): the measure is anatomical.
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    lastSent = now; encoding = true;
    canvas.toBlob(function (blob) {
      encoding = false;
      if (!blob || !socket || socket.readyState !== WebSocket.OPEN) return;
      blob.arrayBuffer().then(function (jpeg) {
        var message = new Uint8Array(8 + jpeg.byteLength);
        new DataView(message.buffer).setFloat64(0, captured, true);
        message.set(new Uint8Array(jpeg), 8);
        socket.send(message.buffer);
        sent++;
      });
    }, "image/jpeg", 0.85);
  }

  function watchFrames() {
    if (video.requestVideoFrameCallback) {
      var onFrame = function (now, meta) {
        if (!running) return;
        sendFrame(now, meta && meta.captureTime ? meta.captureTime : now);
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    } else {
      var tick = function () {
        if (!running) return;
        var now = performance.now();
        sendFrame(now, now);
        window.setTimeout(tick, interval / 2);
      };
      tick();
    }
  }

  // ---- answers in
  function showState(state) {
    answered++;
    dropped = state.dropped || 0;
    var delay = performance.now() - state.t;
    latencies.push(delay);
    if (latencies.length > 600) latencies.shift();
    var latency = $("latency");
    var median = percentile(latencies, 0.5), p95 = percentile(latencies, 0.95);
    latency.textContent = Math.round(median) + " ms (95 % within " + Math.round(p95) + " ms)";
    latency.dataset.median = median.toFixed(1); latency.dataset.p95 = p95.toFixed(1);
    latency.dataset.count = latencies.length;

    stage.dataset.phase = state.phase;
    stage.dataset.movement = state.movement || "";
    $("prompt-title").textContent = state.title;
    $("prompt-detail").textContent = state.detail;
    var warning = $("warning");
    warning.hidden = !state.warning;
    warning.textContent = state.warning || "";
    ["left", "right"].forEach(function (side) {
      var bar = bars[side];
      var level = state.bars ? state.bars[side] : 0;
      var mm = state.travel_mm ? state.travel_mm[side] : null;
      bar.querySelector(".fill").style.transform = "scaleY(" + (level || 0).toFixed(3) + ")";
      bar.querySelector(".mm").textContent = mm === null || mm === undefined ? "–"
        : Math.max(mm, 0).toFixed(1) + " mm";
      bar.dataset.level = (level || 0).toFixed(3);
      bar.dataset.mm = mm === null || mm === undefined ? "" : mm.toFixed(2);
    });
    $("script-progress").style.transform =
      "scaleX(" + Math.min(1, state.script_t / state.duration_s).toFixed(4) + ")";
    // After each movement: how far each side moved while holding it.
    Object.keys(state.held || {}).forEach(function (key) {
      var name = key.split("#")[0], held = state.held[key];
      var cell = document.querySelector('.held[data-movement="' + name + '"]');
      if (!cell || cell.dataset.left) return;
      cell.dataset.left = fixed(held.left, 2); cell.dataset.right = fixed(held.right, 2);
      cell.textContent = "— your left moved " + fixed(held.left, 1) + " mm, your right "
        + fixed(held.right, 1) + " mm";
    });
    if (state.done) {
      say("Measuring your session…");
      stopCamera();
    }
  }

  function showResult(result) {
    var body = document.querySelector("#result-table tbody");
    body.textContent = "";
    result.movements.forEach(function (m) {
      var row = document.createElement("tr");
      row.className = "result-row";
      row.dataset.movement = m.movement;
      row.dataset.symmetry = m.symmetry_pct === null ? "" : m.symmetry_pct.toFixed(1);
      row.dataset.weaker = m.weaker_side || "";
      [m.label, fixed(m.left_mm, 1) + " mm", fixed(m.right_mm, 1) + " mm",
       m.symmetry_pct === null ? "–" : Math.round(m.symmetry_pct) + " %",
       m.weaker_side || "neither"].forEach(function (value) {
        var cell = document.createElement("td");
        cell.textContent = value;
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
    $("result-note").textContent = result.note || "";
    $("report-link").href = result.report_url;
    $("results").hidden = false;
    $("prompt-title").textContent = "Done";
    $("prompt-detail").textContent = "saved: your results are below the picture";
    $("results").dataset.session = result.session_id;
    say(result.ended_early ? "Ended early: the completed movements were saved."
      : "Saved in your history.");
  }

  function stopCamera() {
    running = false;
    if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
    stream = null;
    setButtons(false);
    startButton.disabled = true;
  }

  function start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say("This browser gives no camera to this page: open it on this computer at "
        + "http://127.0.0.1 (browsers allow the camera only there or over https).", true);
      return;
    }
    startButton.disabled = true;
    finished = false;
    say("Loading the face model…");
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + config.ws + "?csrf="
      + encodeURIComponent(csrf));
    socket.binaryType = "arraybuffer";
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "ready") {
        // The camera starts only now, so that its first frame opens the script.
        navigator.mediaDevices.getUserMedia({
          video: { width: { ideal: 640 }, height: { ideal: 480 },
                   frameRate: { ideal: config.fps } }, audio: false
        }).then(function (media) {
          stream = media;
          video.srcObject = media;
          return video.play();
        }).then(function () {
          running = true;
          setButtons(true);
          say("Follow the prompts. The bars show each side of your face.");
          watchFrames();
        }).catch(function (error) {
          finished = true;  // the socket's close below is ours
          say("No camera: " + (error && error.message ? error.message : error), true);
          socket.close();
          startButton.disabled = false;
        });
      } else if (message.type === "state") {
        showState(message);
      } else if (message.type === "result") {
        finished = true;
        showResult(message);
      } else if (message.type === "error") {
        finished = true;
        stopCamera();
        startButton.disabled = false;
        say(message.message, true);
      }
    };
    socket.onclose = function () {
      if (finished) return;
      stopCamera();
      startButton.disabled = false;
      say("The connection to facescore was lost (is 'facescore serve' still running?).", true);
    };
  }

  function command(name) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: name }));
  }

  startButton.addEventListener("click", start);
  pauseButton.addEventListener("click", function () {
    command("pause");
    pauseButton.textContent = pauseButton.textContent === "Pause" ? "Go on" : "Pause";
  });
  skipButton.addEventListener("click", function () { command("skip"); });
  stopButton.addEventListener("click", function () { command("stop"); });
  setButtons(false);
})();
