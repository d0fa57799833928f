// facescore clinic app: uploads with progress, and live analysis status. No other script.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  function text(el, value) { el.textContent = value; return el; }

  // ---- uploads: drag and drop or the file picker; each file becomes one visit
  var zone = document.getElementById("dropzone");
  if (zone) {
    var input = document.getElementById("file-input");
    var list = document.getElementById("uploads");
    var patient = zone.dataset.patient;
    var maxBytes = Number(zone.dataset.maxBytes);
    var queue = [], busy = false, created = 0, failed = 0;

    function uploadNext() {
      if (busy) return;
      var item = queue.shift();
      if (!item) {
        // Show the new visits and their progress. After a refusal, in place, so that the
        // refusal stays readable beside them; else the page is simply reloaded.
        if (created && failed) refreshVisits();
        else if (created) window.location.reload();
        return;
      }
      busy = true;
      var file = item.file, row = item.row;
      var bar = row.querySelector("progress"), note = row.querySelector(".note");
      if (file.size > maxBytes) {
        text(note, "refused: larger than this server accepts");
        note.className = "note error small"; failed++; busy = false; uploadNext(); return;
      }
      var params = new URLSearchParams();
      if (document.getElementById("mirrored").checked) params.set("mirrored", "1");
      var segments = document.getElementById("segments").value.trim();
      if (segments) params.set("segments", segments);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/patients/" + encodeURIComponent(patient) + "/visits?" + params.toString());
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("X-Filename", encodeURIComponent(file.name));
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) bar.value = e.loaded / e.total; };
      xhr.onload = function () {
        var reply = {};
        try { reply = JSON.parse(xhr.responseText); } catch (e) { reply = {}; }
        if (xhr.status === 201) {
          bar.value = 1; created++;
          note.textContent = "";
          var link = document.createElement("a");
          link.href = reply.url; text(link, "queued for analysis");
          note.appendChild(link);
        } else {
          failed++;
          text(note, reply.error || ("refused (" + xhr.status + ")"));
          note.className = "note error small";
        }
        busy = false; uploadNext();
      };
      xhr.onerror = function () {
        failed++; text(note, "the upload was cut off"); note.className = "note error small";
        busy = false; uploadNext();
      };
      xhr.send(file);
    }

    function add(files) {
      Array.prototype.forEach.call(files, function (file) {
        var row = document.createElement("li");
        row.appendChild(text(document.createElement("span"), file.name + " "));
        var bar = document.createElement("progress"); bar.max = 1; bar.value = 0;
        row.appendChild(bar);
        var note = document.createElement("span"); note.className = "note small"; text(note, " uploading…");
        row.appendChild(note);
        list.appendChild(row);
        queue.push({ file: file, row: row });
      });
      uploadNext();
    }

    input.addEventListener("change", function () { add(input.files); input.value = ""; });
    zone.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) { if (e.dataTransfer && e.dataTransfer.files.length) add(e.dataTransfer.files); });
  }

  // ---- the patient page's visit list, fetched again and swapped in (uploads stay as they are)
  function refreshVisits() {
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("visits");
        var current = document.getElementById("visits");
        if (!fresh || !current) { window.location.reload(); return; }
        current.replaceWith(document.importNode(fresh, true));
        watchAnalyses();
      })
      .catch(function () { window.location.reload(); });
  }

  // ---- live status of queued and running analyses
  var polling = false;
  function watchAnalyses() {
    var watched = document.querySelectorAll("[data-poll-visit]");
    if (!watched.length || polling) return;
    polling = true;
    var poll = function () {
      var pending = Array.prototype.map.call(watched, function (bar) {
        return fetch("/visits/" + bar.dataset.pollVisit + "/status", { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (s) {
            if (s.status === "done" || s.status === "failed" || s.status === undefined) return true;
            bar.value = s.progress || 0;
            var phase = bar.parentNode.querySelector(".phase");
            if (phase) text(phase, s.status === "queued" ? (s.queue_ahead + " before it") : (s.phase || ""));
            var badge = bar.parentNode.querySelector(".badge");
            if (badge && s.status === "running") { text(badge, "analysing"); badge.className = "badge running"; }
            return false;
          }).catch(function () { return false; });
      });
      Promise.all(pending).then(function (finished) {
        if (!finished.some(Boolean)) { window.setTimeout(poll, 1000); return; }
        polling = false;
        // An upload's refusal note stays on the page; without one, a reload is simplest.
        if (document.querySelector("#uploads .error")) refreshVisits();
        else window.location.reload();
      });
    };
    window.setTimeout(poll, 1000);
  }
  watchAnalyses();

  // ---- import of home sessions exported elsewhere: the file is sent as it is
  // (Listened to on the document: the section holding the input is swapped after an import.)
  document.addEventListener("change", function (event) {
    var importInput = event.target;
    if (importInput.id !== "import-input") return;
    (function () {
      var file = importInput.files[0];
      if (!file) return;
      var status = document.getElementById("import-status");
      status.className = "small"; text(status, "importing " + file.name + "…");
      fetch("/patients/" + encodeURIComponent(importInput.dataset.patient) + "/sessions/import", {
        method: "POST", body: file, credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, "Content-Type": "application/octet-stream" }
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (reply) { return [r.status, reply]; });
      }).then(function (result) {
        var code = result[0], reply = result[1];
        importInput.value = "";
        if (code !== 201) {
          status.className = "small error"; text(status, reply.error || ("refused (" + code + ")"));
          return;
        }
        var message = reply.imported + " session(s) imported" +
          (reply.already ? ", " + reply.already + " already here" : "") +
          (reply.from_profile ? " (exported as " + reply.from_profile + ")" : "");
        // The new sessions on the page: its home sessions and timeline, fetched again.
        fetch(window.location.href, { credentials: "same-origin" })
          .then(function (r) { return r.text(); })
          .then(function (html) {
            var fresh = new DOMParser().parseFromString(html, "text/html");
            ["home", "timeline"].forEach(function (id) {
              var now = document.getElementById(id), next = fresh.getElementById(id);
              if (now && next) now.replaceWith(document.importNode(next, true));
            });
            var note = document.getElementById("import-status");
            note.className = "small ok"; text(note, message);
          });
      }).catch(function () {
        status.className = "small error"; text(status, "the import was cut off");
      });
    })();
  });

  var printButton = document.getElementById("print-button");
  if (printButton) printButton.addEventListener("click", function () { window.print(); });
})();
