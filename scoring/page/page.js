"use strict";
// The verification page: record (or pick) a clip, score it, show the verdict. A recording streams to
// WS /score/live while it is made (guidance under the preview, the verdict at stop); where no socket
// opens, the recording is POSTed to /score when it stops. A picked file is always POSTed.
// Everything that comes from the server or the user is inserted as text, never as HTML.

const MIN_SECONDS = 3;
const RECORDING_TYPES = ["video/webm;codecs=vp9,opus", "video/webm;codecs=vp8,opus", "video/webm", "video/mp4"];

const $ = (id) => document.getElementById(id);
const state = { stream: null, recorder: null, chunks: [], started: 0, timer: null, sessionId: null, challenge: null, live: null };

// The phrase comes from the server with a signed token, sent back with the recording: the service
// then checks that the phrase was said (a recording made earlier cannot know it).
async function newSession() {
  state.sessionId = "web-" + (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()));
  state.challenge = null;
  $("phrase").textContent = "…";
  try {
    const answer = await fetch("challenge", { cache: "no-store" });
    if (!answer.ok) throw new Error("HTTP " + answer.status);
    const body = await answer.json();
    state.challenge = body.challenge;
    $("phrase").textContent = body.phrase;
  } catch (error) {
    $("phrase").textContent = "(no phrase)";
    showMessage("No phrase could be fetched from the service (" + error.message + "); the recording will be scored without the spoken-phrase check.");
  }
}

function showMessage(text) {
  $("message").textContent = text;
  $("message").hidden = false;
}

function clearMessage() {
  $("message").hidden = true;
  $("message").textContent = "";
}

function cameraErrorText(error) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return "This browser cannot record here (a secure https:// page is needed). Pick a video file instead.";
  }
  if (error && (error.name === "NotAllowedError" || error.name === "SecurityError")) {
    return "Camera or microphone access was refused. Allow both for this page and try again, or pick a video file instead.";
  }
  if (error && error.name === "NotFoundError") {
    return "No camera or microphone was found. Connect one, or pick a video file instead.";
  }
  return "The camera could not be started (" + (error && error.message ? error.message : "unknown error") + ").";
}

async function startCamera() {
  clearMessage();
  try {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error("no media devices");
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: true });
    $("preview").srcObject = state.stream;
    $("record").disabled = false;
    $("camera").disabled = true;
  } catch (error) {
    showMessage(cameraErrorText(error));
  }
}

function recordingType() {
  return RECORDING_TYPES.find((type) => window.MediaRecorder && MediaRecorder.isTypeSupported(type)) || "";
}

function startRecording() {
  clearMessage();
  showGuidance([]);
  const type = recordingType();
  state.chunks = [];
  state.live = openLive(type);
  state.recorder = new MediaRecorder(state.stream, type ? { mimeType: type } : undefined);
  state.recorder.ondataavailable = (event) => {
    if (!event.data.size) return;
    state.chunks.push(event.data);  // kept for the upload, should the socket fail
    if (state.live) sendLive(state.live, event.data);
  };
  state.recorder.onstop = finishRecording;
  const seconds = Number($("seconds").value);
  state.recorder.start(250);
  state.started = performance.now();
  $("record").disabled = true;
  $("stop").disabled = false;
  showCountdown(seconds);
  state.timer = setInterval(() => {
    const left = seconds - (performance.now() - state.started) / 1000;
    if (left <= 0) stopRecording(); else showCountdown(Math.ceil(left));
  }, 100);
}

function showCountdown(value) {
  $("countdown").hidden = false;
  $("countdown").textContent = String(value);
}

function stopRecording() {
  clearInterval(state.timer);
  $("countdown").hidden = true;
  $("stop").disabled = true;
  if (state.recorder && state.recorder.state !== "inactive") state.recorder.stop();
}

function finishRecording() {
  const seconds = (performance.now() - state.started) / 1000;
  $("record").disabled = false;
  if (seconds < MIN_SECONDS) {
    if (state.live) { state.live.done = true; state.live.socket.close(); }
    showMessage("The clip is too short (" + seconds.toFixed(1) + " s). Record at least " + MIN_SECONDS + " seconds.");
    return;
  }
  if (state.live && state.live.done) return;  // the session has answered already: its error is shown
  if (state.live && !state.live.failed) {
    state.live.stopped = true;
    setProgress(100, "Scoring…");
    if (state.live.ready) state.live.socket.send(JSON.stringify({ type: "stop" }));
    return;
  }
  uploadRecording();
}

function uploadRecording() {
  const type = state.recorder.mimeType || "video/webm";
  const blob = new Blob(state.chunks, { type: type });
  upload(blob, type.startsWith("video/mp4") ? "recording.mp4" : "recording.webm");
}

// The live path. Browsers send no Authorization header on a WebSocket, so with an API key the page
// uploads; an MP4 recorder's chunks cannot be decoded before the file ends, so it uploads too.
function openLive(type) {
  if (!window.WebSocket || !type.startsWith("video/webm") || $("api-key").value.trim()) return null;
  const url = new URL("score/live", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const live = { socket: new WebSocket(url.href), ready: false, failed: false, stopped: false, done: false, pending: [] };
  live.socket.onopen = () => {
    live.socket.send(JSON.stringify({ type: "start", session_id: state.sessionId, challenge: state.challenge, explain: $("explain").checked }));
  };
  live.socket.onmessage = (event) => liveMessage(live, JSON.parse(event.data));
  live.socket.onclose = () => {
    if (live.done) return;
    live.failed = true;  // never opened, or lost before an answer: the recording goes up as a file
    if (live.stopped) uploadRecording();
  };
  return live;
}

function sendLive(live, chunk) {
  if (live.failed || live.done) return;
  if (live.ready) live.socket.send(chunk); else live.pending.push(chunk);
}

function liveMessage(live, message) {
  if (message.type === "ready") {
    live.ready = true;
    state.challenge = null;  // used up by the session
    live.pending.forEach((chunk) => live.socket.send(chunk));
    live.pending = [];
    if (live.stopped) live.socket.send(JSON.stringify({ type: "stop" }));
  } else if (message.type === "guidance") {
    showGuidance(message.messages);
  } else if (message.type === "progress") {
    const faces = (message.judged.efficientnet || []).length, windows = (message.judged.voice || []).length;
    $("live-status").textContent = message.seconds.toFixed(1) + " s received, " + message.faces + (message.faces === 1 ? " face" : " faces") + " in view, " + faces + " judged so far" + (windows ? ", " + windows + " of the voice" : "");
  } else if (message.type === "result" || message.type === "error") {
    live.done = true;
    window.lastResponse = { status: message.type === "result" ? 200 : message.status, body: message.type === "result" ? message.result : message, via: "live" };
    if (message.type === "result") {
      $("progress-box").hidden = true;
      showResult(message.result);
    } else {
      if (state.recorder && state.recorder.state !== "inactive") stopRecording();
      failed("The service refused this video (" + message.status + " " + message.error + "): " + message.message);
    }
  }
}

function showGuidance(messages) {
  $("guidance").hidden = messages.length === 0;
  $("guidance").textContent = messages.join(" ");
  if (!messages.length) $("live-status").textContent = "";
}

function setProgress(percent, stage) {
  $("progress-box").hidden = false;
  $("progress").value = percent;
  $("stage").textContent = stage;
}

function upload(file, name) {
  clearMessage();
  const form = new FormData();
  form.append("video", file, name);
  form.append("session_id", state.sessionId);
  if (state.challenge) form.append("challenge", state.challenge);
  if ($("explain").checked) form.append("explain", "1");
  state.challenge = null;  // a token is accepted once; the next attempt fetches a new phrase
  const request = new XMLHttpRequest();
  request.open("POST", "score");
  request.responseType = "text";
  const key = $("api-key").value.trim();
  if (key) request.setRequestHeader("Authorization", "Bearer " + key);
  request.upload.onprogress = (event) => {
    if (event.lengthComputable) setProgress(Math.round((100 * event.loaded) / event.total), "Uploading…");
  };
  request.upload.onload = () => setProgress(100, "Scoring…");
  request.onload = () => answered(request);
  request.onerror = () => failed("Network failure: the service could not be reached. Check the connection and try again.");
  request.ontimeout = () => failed("The service did not answer in time. Try again in a moment.");
  setProgress(0, "Uploading…");
  request.send(form);
}

function failed(text) {
  $("progress-box").hidden = true;
  showMessage(text);
  newSession();
}

function answered(request) {
  let body = null;
  try { body = JSON.parse(request.responseText); } catch (error) { body = null; }
  window.lastResponse = { status: request.status, body: body, via: "upload" };
  if (request.status === 200 && body) {
    $("progress-box").hidden = true;
    showResult(body);
    return;
  }
  const detail = body && body.message ? body.message : request.statusText || "no details";
  failed("The service refused this video (" + request.status + (body && body.error ? " " + body.error : "") + "): " + detail);
}

function row(table, label, value) {
  const tr = document.createElement("tr");
  const key = document.createElement("td");
  const cell = document.createElement("td");
  key.textContent = label;
  cell.textContent = value;
  tr.append(key, cell);
  table.append(tr);
}

function describeSyncnet(sync) {
  if (!sync || sync.score === null || sync.score === undefined) {
    return "did not run: " + (sync && sync.reason ? sync.reason : "no result");
  }
  return sync.score.toFixed(3) + " (offset " + sync.offset_frames + " frames, " + sync.lag_ms + " ms; confidence " +
    sync.confidence.toFixed(2) + ")";
}

function describeFrames(frames, degraded) {
  if (!frames) return "did not run: " + (degraded && degraded.efficientnet ? degraded.efficientnet.message : "no result");
  const by = frames.detector ? ", by " + frames.detector : "";
  return frames.score.toFixed(3) + " P(real) over " + frames.num_frames + " face crops (consistency " + frames.consistency.toFixed(2) + ")" + by;
}

function describeVoice(voice) {
  if (!voice || voice.score === null || voice.score === undefined) {
    return "did not run: " + (voice && voice.reason ? voice.reason : "no result");
  }
  // No verdict word unless the service named one: its threshold is off by default (docs/voice.md).
  const suspicion = voice.suspected_synthetic ? ", may be synthetic" : "";
  return voice.score.toFixed(3) + " P(bona fide)" + suspicion + " (" + voice.model + ", " + voice.windows.length + " window(s) over " +
    voice.speech.seconds.toFixed(1) + " s of speech)";
}

function showResult(body) {
  $("capture").hidden = true;
  $("result").hidden = false;
  $("risk").textContent = body.risk_level;
  $("risk").className = "risk " + body.risk_level;
  $("combined").textContent = body.combined_score.toFixed(2);

  const detectors = $("detectors");
  detectors.replaceChildren();
  row(detectors, "SyncNet (lip sync)", describeSyncnet(body.syncnet));
  row(detectors, "Face frames", describeFrames(body.efficientnet, body.degraded));
  row(detectors, "Voice (synthetic speech)", describeVoice(body.voice));
  if (body.challenge) {
    const c = body.challenge;
    row(detectors, "Spoken phrase", (c.passed ? "said: " : "NOT said: ") + "\u201c" + c.phrase + "\u201d (" + c.matched_words + " of " + c.total_words + " words heard)");
  }
  if (body.risk_note) row(detectors, "Note", body.risk_note);
  row(detectors, "Fusion weights applied", Object.entries(body.weights).map(([k, v]) => k + " " + v).join(", "));
  row(detectors, "Session", body.session_id || "");

  const degraded = $("degraded");
  degraded.replaceChildren();
  const entries = Object.entries(body.degraded || {});
  if (!entries.length) entries.push(["nothing", { code: "", message: "both detectors scored the clip" }]);
  for (const [name, reason] of entries) {
    const item = document.createElement("li");
    item.textContent = name + (reason.code ? " (" + reason.code + ")" : "") + ": " + reason.message;
    degraded.append(item);
  }

  const video = $("video");
  video.replaceChildren();
  const v = body.video || {};
  row(video, "Length", (v.duration_s || 0).toFixed(2) + " s, analysed at " + v.analysed_fps + " fps (" + v.analysed_frames + " frames)");
  row(video, "Picture", v.width + " x " + v.height + ", " + v.video_codec + " in " + v.container);
  row(video, "Sound", v.has_audio ? v.audio_codec : "no audio track");
  row(video, "Faces", (body.faces ? body.faces.tracks + " track(s), " + body.faces.detector : "none"));
  row(video, "Processing time", (body.processing_time_ms / 1000).toFixed(2) + " s");
  drawTimeline(body);
  showHeatmaps((body.efficientnet && body.efficientnet.explanations) || []);
}

function showHeatmaps(explanations) {
  const box = $("heatmaps");
  box.replaceChildren();
  $("heatmaps-box").hidden = explanations.length === 0;
  for (const e of explanations) {
    const figure = document.createElement("figure");
    const image = document.createElement("img");
    image.src = "data:image/png;base64," + e.png;
    image.alt = "heat map of a face the classifier scored " + e.frame_score;
    const caption = document.createElement("figcaption");
    const when = e.frame_index === undefined ? "" : "frame " + e.frame_index + ", ";
    caption.textContent = when + "P(real) " + Number(e.frame_score).toFixed(2) + ", " + e.method;
    figure.append(image, caption);
    box.append(figure);
  }
}

function drawTimeline(body) {
  const canvas = $("timeline");
  const g = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, left = 44, right = 10, top = 12, bottom = 28;
  const fps = (body.video && body.video.analysed_fps) || 25;
  const seconds = Math.max((body.video && body.video.duration_s) || 1, 0.1);
  const x = (t) => left + ((w - left - right) * t) / seconds;
  const y = (value) => top + (h - top - bottom) * (1 - value);
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#ccd"; g.fillStyle = "#556"; g.font = "12px sans-serif"; g.lineWidth = 1;
  for (const value of [0, 0.5, 1]) {
    g.beginPath(); g.moveTo(left, y(value)); g.lineTo(w - right, y(value)); g.stroke();
    g.fillText(value.toFixed(1), 8, y(value) + 4);
  }
  const step = seconds > 20 ? 5 : 1;
  for (let t = 0; t <= seconds; t += step) g.fillText(t + " s", x(t) - 8, h - 8);

  const sync = body.syncnet || {};
  if (sync.framewise_confidence && sync.framewise_confidence.length) {
    const low = Math.min(...sync.framewise_confidence), span = Math.max(Math.max(...sync.framewise_confidence) - low, 1e-6);
    plotLine(g, sync.framewise_start_frames.map((f) => x(f / fps)), sync.framewise_confidence.map((c) => y((c - low) / span)), "#e8590c");
  }
  const voice = body.voice || {};
  g.strokeStyle = "#2b8a3e"; g.lineWidth = 3;
  for (const window of voice.windows || []) {
    g.beginPath(); g.moveTo(x(window.start_s), y(window.score)); g.lineTo(x(window.end_s), y(window.score)); g.stroke();
  }
  const frames = body.efficientnet;
  if (frames && frames.frame_scores) {
    const xs = frames.frame_indices.map((f) => x(f / fps)), ys = frames.frame_scores.map(y);
    plotLine(g, xs, ys, "#3b5bdb");
    g.fillStyle = "#3b5bdb";
    xs.forEach((px, i) => { g.beginPath(); g.arc(px, ys[i], 3, 0, 2 * Math.PI); g.fill(); });
  }
}

function plotLine(g, xs, ys, colour) {
  g.strokeStyle = colour; g.lineWidth = 2; g.beginPath();
  xs.forEach((px, i) => (i ? g.lineTo(px, ys[i]) : g.moveTo(px, ys[i])));
  g.stroke();
}

function again() {
  $("result").hidden = true;
  $("capture").hidden = false;
  $("file").value = "";
  newSession();
}

$("camera").addEventListener("click", startCamera);
$("record").addEventListener("click", startRecording);
$("stop").addEventListener("click", stopRecording);
$("again").addEventListener("click", again);
$("file").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) upload(file, file.name);
});
newSession();
