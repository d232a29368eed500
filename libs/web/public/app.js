/**
 * The longshot page: a prompt form, the jobs being made (live per-stage progress from each job's event
 * stream, the keyframes as soon as they exist, the video when done, cancel) and a gallery of past jobs
 * (their settings, re-run in one click). Plain ES modules the browser runs as they are: preact for the
 * rendering, htm for its templates (no JSX, so no build step). Everything it asks for comes from the
 * server that served it, by relative URLs: the HTTP API (docs/http-api.md) and its OpenAPI document.
 */
import htm from "htm";
import { h, render } from "preact";
import { useEffect, useReducer, useRef, useState } from "preact/hooks";

const html = htm.bind(h);

const VIDEOS = "v1/videos";
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const MAX_VIDEOS = 8;

/** The number fields of the form, named as the API names them. Blank: the pack's default. */
const NUMBER_FIELDS = [
  { name: "frames", label: "Frames", integer: true },
  { name: "keyframe_steps", label: "Keyframe steps", integer: true },
  { name: "interpolation_steps", label: "Interpolation steps", integer: true },
  { name: "keyframe_guidance", label: "Keyframe guidance", integer: false },
  { name: "interpolation_guidance", label: "Interpolation guidance", integer: false },
  { name: "interpolation_strength", label: "Interpolation strength", integer: false },
];
/** Request fields a re-run sends again as they ran. */
const RERUN_FIELDS = [
  "prompt",
  "negative_prompt",
  "seed",
  "pack",
  "sampler",
  "mode",
  "output_formats",
  ...NUMBER_FIELDS.map((f) => f.name),
];
const EMPTY_FORM = {
  prompt: "",
  negative_prompt: "",
  seed: "",
  count: "1",
  sampler: "",
  mode: "",
  ...Object.fromEntries(NUMBER_FIELDS.map((f) => [f.name, ""])),
};

/** An answer of the API that is not 2xx: its error body ({code, message, field}) as an Error. */
class ApiError extends Error {
  constructor(status, body) {
    const e = body?.error ?? { code: `HTTP ${status}`, message: String(body ?? ""), field: null };
    super(e.message);
    this.status = status;
    this.code = e.code;
    this.field = e.field ?? null;
  }
}

async function api(method, url, body) {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = text;
  }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function stageLabel(stage, level) {
  if (stage === "keyframe") return "Keyframes";
  if (stage === "interpolation") return `Interpolation, level ${level}`;
  if (stage === "decode") return "Decode";
  return stage;
}

function stageKey(stage, level) {
  return `${stage}:${level ?? 0}`;
}

const STAGE_ORDER = { keyframe: 0, interpolation: 1, decode: 2 };

function sortedStages(stages) {
  return Object.values(stages).sort(
    (a, b) => (STAGE_ORDER[a.stage] ?? 9) - (STAGE_ORDER[b.stage] ?? 9) || a.level - b.level,
  );
}

/** A stage's steps done and to do: the events' per-task steps, the job record's totals. */
function stageFraction(s) {
  if (s.state === "completed") return { done: 1, total: 1 };
  const tasks = Object.values(s.tasks);
  const done = tasks.reduce((sum, t) => sum + t.step, 0);
  const perTask = tasks[0]?.total ?? 0;
  const total = Math.max(s.totalSteps, perTask * Math.max(s.totalTasks, tasks.length), done);
  return { done: Math.max(done, s.completedSteps), total };
}

function emptyStage(stage, level) {
  return { stage, level, state: "pending", totalTasks: 0, totalSteps: 0, completedSteps: 0, tasks: {}, window: null };
}

/** The job card's state after one event of the job's stream (docs/http-api.md, "Events"). */
function applyEvent(job, ev) {
  const next = { ...job, lastSequence: Math.max(job.lastSequence, ev.sequence ?? 0) };
  if (ev.type === "queued") {
    next.status = "queued";
    next.jobsAhead = ev.jobs_ahead ?? 0;
    next.announcement = next.jobsAhead > 0 ? `Queued, ${next.jobsAhead} jobs ahead` : "Queued";
    return next;
  }
  if (TERMINAL.has(ev.type)) {
    next.status = ev.type;
    next.announcement =
      ev.type === "completed"
        ? "Completed"
        : `${ev.type === "failed" ? "Failed" : "Cancelled"}${ev.message ? `: ${ev.message}` : ""}`;
    if (ev.type === "failed") next.failure = `${ev.code ?? "failed"}${ev.stage ? ` (${ev.stage})` : ""}: ${ev.message}`;
    return next;
  }
  if (ev.stage == null) return next;
  const key = stageKey(ev.stage, ev.level);
  const stage = { ...(job.stages[key] ?? emptyStage(ev.stage, ev.level ?? 0)) };
  next.stages = { ...job.stages, [key]: stage };
  next.status = "in_progress";
  if (ev.type === "stage_started") {
    if (stage.state === "pending") stage.state = "running";
    stage.totalTasks = Math.max(stage.totalTasks, ev.total_tasks ?? 0);
    next.announcement = `${stageLabel(ev.stage, ev.level)} started`;
  } else if (ev.type === "step_progress") {
    if (stage.state === "pending") stage.state = "running";
    stage.tasks = { ...stage.tasks, [ev.task_id ?? "task"]: { step: ev.step, total: ev.total } };
    stage.window = ev.window ?? null;
  } else if (ev.type === "stage_completed") {
    stage.state = "completed";
    const seconds = ev.duration_ms == null ? "" : ` in ${(ev.duration_ms / 1000).toFixed(1)} s`;
    next.announcement = `${stageLabel(ev.stage, ev.level)} done${seconds}`;
  }
  return next;
}

/** The card's state from the job record (GET): the stages planned and their totals; events fill in the rest. */
function applyVideo(job, video) {
  const stages = { ...job.stages };
  for (const s of video.stages ?? []) {
    const key = stageKey(s.stage, s.level);
    const known = stages[key] ?? emptyStage(s.stage, s.level);
    const rank = { pending: 0, running: 1, completed: 2 };
    stages[key] = {
      ...known,
      state: rank[s.state] > rank[known.state] ? s.state : known.state,
      totalTasks: Math.max(known.totalTasks, s.total_tasks ?? 0),
      totalSteps: Math.max(known.totalSteps, s.total_steps ?? 0),
      completedSteps: Math.max(known.completedSteps, s.completed_steps ?? 0),
    };
  }
  // The stream is the newer word on the status unless the record has ended.
  const status = TERMINAL.has(video.status) || job.status === "unknown" ? video.status : job.status;
  return { ...job, video, stages, status };
}

function settingsOf(request) {
  if (request == null) return [];
  const rows = [
    ["Seed", request.seed],
    ["Frames", request.frames],
    ["Steps", `${request.keyframe_steps} keyframe, ${request.interpolation_steps} interpolation`],
    ["Guidance", `${request.keyframe_guidance} keyframe, ${request.interpolation_guidance} interpolation`],
    ["Strength", request.interpolation_strength],
    ["Sampler", request.sampler ?? "pack default"],
    ["Mode", request.mode ?? "pack default"],
  ];
  if (request.negative_prompt) rows.push(["Negative prompt", request.negative_prompt]);
  return rows;
}

function Settings({ request, model, size, seconds }) {
  const rows = settingsOf(request);
  if (model) rows.push(["Pack", model]);
  if (size) rows.push(["Size", `${size}, ${seconds} s`]);
  return html`<dl class="settings">
    ${rows.map(([k, v]) => html`<div key=${k}><dt>${k}</dt><dd>${String(v)}</dd></div>`)}
  </dl>`;
}

/** The keyframe preview (the `spritesheet` variant), once the keyframe stage has completed; 404 until it exists. */
function useKeyframePreview(id, ready) {
  const [url, setUrl] = useState(null);
  useEffect(() => {
    if (!ready) return undefined;
    let stopped = false;
    let objectUrl = null;
    (async () => {
      // The stage_completed event and the preview can cross: ask again soon, then less often (about 20 s in all).
      for (let attempt = 0; attempt < 30 && !stopped; attempt++) {
        const res = await fetch(`${VIDEOS}/${encodeURIComponent(id)}/content?variant=spritesheet`).catch(() => null);
        if (res?.ok) {
          const blob = await res.blob();
          if (stopped) return;
          objectUrl = URL.createObjectURL(blob);
          setUrl(objectUrl);
          return;
        }
        if (res !== null && res.status !== 404) return;
        await sleep(Math.min(100 * 2 ** attempt, 1000));
      }
    })();
    return () => {
      stopped = true;
      if (objectUrl !== null) URL.revokeObjectURL(objectUrl);
    };
  }, [id, ready]);
  return url;
}

function StageRow({ s }) {
  const { done, total } = stageFraction(s);
  const label = stageLabel(s.stage, s.level);
  let detail = s.state;
  if (s.state === "running") {
    const tasks = Object.values(s.tasks);
    const last = tasks[tasks.length - 1];
    if (last !== undefined) detail = `step ${last.step} of ${last.total}`;
    if (s.window !== null) detail += `, window ${s.window.index + 1} of ${s.window.count}`;
  }
  return html`<li class=${`stage stage-${s.state}`} data-stage=${stageKey(s.stage, s.level)} data-state=${s.state}>
    <span class="stage-label">${label}</span>
    <progress max=${total || 1} value=${done} aria-label=${`${label} progress`}></progress>
    <span class="stage-detail">${detail}</span>
  </li>`;
}

/** One job being made (or watched): progress, keyframes, video, cancel. */
function JobCard({ id, onEnded, onDismiss }) {
  const [job, dispatch] = useReducer((state, action) => action(state), {
    id,
    status: "unknown",
    stages: {},
    lastSequence: 0,
    jobsAhead: 0,
    announcement: "Connecting…",
    video: null,
    failure: null,
  });
  const [error, setError] = useState(null);
  const [cancelling, setCancelling] = useState(false);
  const ended = TERMINAL.has(job.status);
  const endedRef = useRef(false);

  useEffect(() => {
    let closed = false;
    const refresh = () =>
      api("GET", `${VIDEOS}/${encodeURIComponent(id)}`)
        .then((video) => !closed && dispatch((s) => applyVideo(s, video)))
        .catch((e) => !closed && setError(e.message));
    refresh();
    const source = new EventSource(`${VIDEOS}/${encodeURIComponent(id)}/events`);
    const onEvent = (message) => {
      const ev = JSON.parse(message.data);
      dispatch((s) => applyEvent(s, ev));
      if (TERMINAL.has(ev.type)) {
        source.close();
        refresh();
        if (!endedRef.current) {
          endedRef.current = true;
          onEnded?.(id);
        }
      }
    };
    for (const type of ["queued", "stage_started", "step_progress", "stage_completed", ...TERMINAL])
      source.addEventListener(type, onEvent);
    // The server's `error` event carries the error body; the browser's own (connection lost) has no data and
    // EventSource reconnects by itself, resuming after Last-Event-ID.
    source.addEventListener("error", (message) => {
      if (typeof message.data !== "string") return;
      source.close();
      try {
        setError(JSON.parse(message.data).error?.message ?? message.data);
      } catch {
        setError(message.data);
      }
    });
    return () => {
      closed = true;
      source.close();
    };
  }, [id, onEnded]);

  const keyframesReady = job.stages[stageKey("keyframe", 0)]?.state === "completed";
  const preview = useKeyframePreview(id, keyframesReady);
  const request = job.video?.request;
  const title = request?.prompt ?? id;

  async function cancel() {
    setCancelling(true);
    setError(null);
    try {
      const video = await api("POST", `${VIDEOS}/${encodeURIComponent(id)}/cancel`);
      dispatch((s) => applyVideo(s, video));
    } catch (e) {
      setError(e.message);
    } finally {
      setCancelling(false);
    }
  }

  const headingId = `job-${id}-title`;
  return html`<article class="job" aria-labelledby=${headingId} data-job-id=${id} data-status=${job.status}>
    <header>
      <h3 id=${headingId}>${title}</h3>
      <span class=${`badge badge-${job.status}`}>${job.status.replace("_", " ")}</span>
    </header>
    <p class="announcement" role="status">${job.announcement}</p>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${job.failure && html`<p class="error" role="alert">${job.failure}</p>`}
    <div class="job-body">
      <div class="job-progress">
        <ol class="stages" aria-label="Stages">
          ${sortedStages(job.stages).map((s) => html`<${StageRow} key=${stageKey(s.stage, s.level)} s=${s} />`)}
        </ol>
        ${request && html`<${Settings} request=${request} model=${job.video?.model} size=${job.video?.size} seconds=${job.video?.seconds} />`}
      </div>
      <div class="job-media">
        ${
          job.status === "completed" &&
          html`<figure class="video">
            <video
              src=${`${VIDEOS}/${encodeURIComponent(id)}/content`}
              controls
              autoplay
              muted
              loop
              playsinline
              aria-label=${`Video of “${title}”`}
            ></video>
            <figcaption><a href=${`${VIDEOS}/${encodeURIComponent(id)}/content`} download=${`${id}.mp4`}>Download MP4</a></figcaption>
          </figure>`
        }
        ${
          preview &&
          html`<figure class="keyframes">
            <img src=${preview} alt=${`Keyframes of “${title}”`} data-testid="keyframes" />
            <figcaption>Keyframes</figcaption>
          </figure>`
        }
      </div>
    </div>
    <div class="actions">
      ${!ended && html`<button type="button" onClick=${cancel} disabled=${cancelling} aria-label=${`Cancel “${title}”`}>Cancel</button>`}
      ${ended && html`<button type="button" onClick=${() => onDismiss(id)} aria-label=${`Dismiss “${title}”`}>Dismiss</button>`}
    </div>
  </article>`;
}

/** The request a form's values ask for, or the errors by field. */
function requestOf(values) {
  const errors = {};
  const body = {};
  const prompt = values.prompt.trim();
  if (prompt === "") errors.prompt = "Write what the video should show.";
  else body.prompt = prompt;
  if (values.negative_prompt.trim() !== "") body.negative_prompt = values.negative_prompt.trim();
  for (const f of NUMBER_FIELDS) {
    const text = String(values[f.name]).trim();
    if (text === "") continue;
    const n = Number(text);
    if (!Number.isFinite(n)) errors[f.name] = `${f.label} must be a number.`;
    else if (f.integer && !Number.isInteger(n)) errors[f.name] = `${f.label} must be a whole number.`;
    else body[f.name] = n;
  }
  if (values.sampler !== "") body.sampler = values.sampler;
  if (values.mode !== "") body.mode = values.mode;
  const seed = String(values.seed).trim();
  if (seed !== "" && !/^[0-9]{1,20}$/.test(seed)) errors.seed = "Seed must be a whole number from 0 to 2^64 − 1.";
  else if (seed !== "") body.seed = seed;
  const count = Number(values.count);
  if (!Number.isInteger(count) || count < 1 || count > MAX_VIDEOS)
    errors.count = `Number of videos must be from 1 to ${MAX_VIDEOS}.`;
  return { body, count, errors };
}

/** N requests: seeds s, s+1, …; without a seed and N > 1, s is picked here so that the N differ by one. */
function requestsOf(body, count) {
  if (count === 1) return [body];
  const first = body.seed === undefined ? BigInt(crypto.getRandomValues(new Uint32Array(1))[0]) : BigInt(body.seed);
  return Array.from({ length: count }, (_, i) => ({ ...body, seed: String(first + BigInt(i)) }));
}

function Field({ id, label, hint, error, children }) {
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const describedBy = [hint ? hintId : null, error ? errorId : null].filter(Boolean).join(" ") || undefined;
  return html`<div class=${`field${error ? " field-invalid" : ""}`}>
    <label for=${id}>${label}</label>
    ${children({ id, "aria-describedby": describedBy, "aria-invalid": error ? "true" : undefined })}
    ${hint && html`<small id=${hintId} class="hint">${hint}</small>`}
    ${error && html`<p id=${errorId} class="field-error" role="alert">${error}</p>`}
  </div>`;
}

function PromptForm({ schema, values, setValues, onCreated, formRef }) {
  const [errors, setErrors] = useState({});
  const [banner, setBanner] = useState(null);
  const [busy, setBusy] = useState(false);
  const props = schema?.properties ?? {};
  const set = (name) => (e) => setValues((v) => ({ ...v, [name]: e.currentTarget.value }));

  function focusField(name) {
    requestAnimationFrame(() => formRef.current?.querySelector(`#field-${name}`)?.focus());
  }

  async function submit(e) {
    e.preventDefault();
    setBanner(null);
    const { body, count, errors: found } = requestOf(values);
    setErrors(found);
    const first = Object.keys(found)[0];
    if (first !== undefined) {
      focusField(first);
      return;
    }
    setBusy(true);
    const requests = requestsOf(body, count);
    try {
      for (const [i, request] of requests.entries()) {
        try {
          const video = await api("POST", VIDEOS, request);
          onCreated(video.id);
        } catch (err) {
          const which = requests.length > 1 ? `Video ${i + 1} of ${requests.length} (seed ${request.seed}): ` : "";
          const field = err.field?.replace(/\[\d+\]$/, "");
          if (field && (field in EMPTY_FORM || field === "seed")) {
            setErrors({ [field]: `${which}${err.message}` });
            focusField(field);
          } else {
            setBanner(`${which}${err.code ?? "error"}${err.field ? ` (${err.field})` : ""}: ${err.message}`);
          }
          return;
        }
      }
    } finally {
      setBusy(false);
    }
  }

  const input =
    (name, extra = {}) =>
    (p) =>
      html`<input ...${p} name=${name} value=${values[name]} onInput=${set(name)} ...${extra} />`;
  const select = (name) => (p) =>
    html`<select ...${p} name=${name} value=${values[name]} onChange=${set(name)}>
      <option value="">pack default</option>
      ${(props[name]?.enum ?? []).map((v) => html`<option key=${v} value=${v}>${v}</option>`)}
    </select>`;

  return html`<form ref=${formRef} class="prompt-form" onSubmit=${submit} noValidate aria-labelledby="form-title">
    <h2 id="form-title">New video</h2>
    ${banner && html`<p class="error" role="alert">${banner}</p>`}
    <${Field} id="field-prompt" label="Prompt" error=${errors.prompt} hint=${props.prompt?.description}>
      ${(p) => html`<textarea ...${p} name="prompt" rows="3" required value=${values.prompt} onInput=${set("prompt")}
        onKeyDown=${(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) submit(e);
        }}></textarea>`}
    <//>
    <div class="grid">
      <${Field} id="field-seed" label="Seed" error=${errors.seed} hint="blank: random; video i gets seed + i">
        ${input("seed", { inputmode: "numeric", autocomplete: "off" })}
      <//>
      <${Field} id="field-count" label="Number of videos" error=${errors.count}>
        ${input("count", { type: "number", min: 1, max: MAX_VIDEOS, step: 1 })}
      <//>
      ${NUMBER_FIELDS.map(
        (f) => html`<${Field} key=${f.name} id=${`field-${f.name}`} label=${f.label} error=${errors[f.name]}
          hint=${f.name === "frames" ? props.frames?.description : undefined}>
          ${input(f.name, { type: "number", step: f.integer ? 1 : "any", min: 0, placeholder: "pack default" })}
        <//>`,
      )}
      <${Field} id="field-sampler" label="Sampler" error=${errors.sampler}>${select("sampler")}<//>
      <${Field} id="field-mode" label="Mode" error=${errors.mode}>${select("mode")}<//>
    </div>
    <${Field} id="field-negative_prompt" label="Negative prompt" error=${errors.negative_prompt}
      hint=${props.negative_prompt?.description}>
      ${input("negative_prompt", { autocomplete: "off" })}
    <//>
    <div class="actions">
      <button type="submit" class="primary" disabled=${busy}>${busy ? "Submitting…" : "Generate"}</button>
      <button type="button" onClick=${() => {
        setValues(EMPTY_FORM);
        setErrors({});
        setBanner(null);
      }}>Reset</button>
    </div>
  </form>`;
}

function formValuesOf(request) {
  const values = { ...EMPTY_FORM };
  for (const key of Object.keys(values)) {
    const v = request?.[key];
    if (v !== undefined && v !== null) values[key] = String(v);
  }
  return values;
}

function timeOf(unix) {
  return unix == null ? "" : new Date(unix * 1000).toLocaleString();
}

function Gallery({ refreshKey, onRerun, onEdit, onWatch, watching }) {
  const [videos, setVideos] = useState([]);
  const [next, setNext] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState({});

  async function load(pageToken) {
    try {
      const page = await api(
        "GET",
        `${VIDEOS}?limit=24${pageToken ? `&page_token=${encodeURIComponent(pageToken)}` : ""}`,
      );
      setVideos((old) => (pageToken ? [...old, ...page.data] : page.data));
      setNext(page.has_more ? page.next_page_token : "");
      setError(null);
    } catch (e) {
      setError(e.message);
    }
  }
  // Reloaded when a job starts or ends (refreshKey).
  useEffect(() => {
    load("");
  }, [refreshKey]);

  async function rerun(video) {
    setBusy((b) => ({ ...b, [video.id]: true }));
    try {
      await onRerun(video.request);
    } finally {
      setBusy((b) => ({ ...b, [video.id]: false }));
    }
  }

  return html`<section class="gallery" aria-labelledby="gallery-title">
    <header class="gallery-header">
      <h2 id="gallery-title">Gallery</h2>
      <button type="button" onClick=${() => load("")}>Refresh</button>
    </header>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${videos.length === 0 && !error && html`<p>No videos yet.</p>`}
    <ul class="cards">
      ${videos.map((v) => {
        const title = v.request?.prompt ?? v.id;
        const headingId = `gallery-${v.id}-title`;
        return html`<li key=${v.id}>
          <article class="gallery-item" aria-labelledby=${headingId} data-job-id=${v.id} data-status=${v.status}>
            <header>
              <h3 id=${headingId}>${title}</h3>
              <span class=${`badge badge-${v.status}`}>${v.status.replace("_", " ")}</span>
            </header>
            ${
              v.status === "completed" &&
              html`<video src=${`${VIDEOS}/${encodeURIComponent(v.id)}/content`} controls muted loop playsinline
                preload="metadata" aria-label=${`Video of “${title}”`}></video>`
            }
            ${v.error && html`<p class="error-text">${v.error.code}: ${v.error.message}</p>`}
            <p class="when">${timeOf(v.created_at)}</p>
            <${Settings} request=${v.request} model=${v.model} size=${v.size} seconds=${v.seconds} />
            <div class="actions">
              <button type="button" onClick=${() => rerun(v)} disabled=${busy[v.id] === true}
                aria-label=${`Re-run “${title}” (seed ${v.request?.seed})`}>Re-run</button>
              <button type="button" onClick=${() => onEdit(v.request)} aria-label=${`Edit the settings of “${title}”`}>Edit</button>
              ${
                !TERMINAL.has(v.status) &&
                !watching.includes(v.id) &&
                html`<button type="button" onClick=${() => onWatch(v.id)} aria-label=${`Watch “${title}”`}>Watch</button>`
              }
            </div>
          </article>
        </li>`;
      })}
    </ul>
    ${next && html`<button type="button" onClick=${() => load(next)}>Load more</button>`}
  </section>`;
}

function App() {
  const [schema, setSchema] = useState(null);
  const [schemaError, setSchemaError] = useState(null);
  const [values, setValues] = useState(EMPTY_FORM);
  const [active, setActive] = useState([]);
  const [refreshKey, setRefreshKey] = useState(0);
  const [rerunError, setRerunError] = useState(null);
  const formRef = useRef(null);

  useEffect(() => {
    api("GET", "openapi.json")
      .then((doc) => setSchema(doc.paths["/v1/videos"].post.requestBody.content["application/json"].schema))
      .catch((e) => setSchemaError(`The API's description (openapi.json) could not be read: ${e.message}`));
  }, []);

  const refreshGallery = () => setRefreshKey((k) => k + 1);
  const onCreated = (id) => {
    setActive((ids) => (ids.includes(id) ? ids : [id, ...ids]));
    refreshGallery();
  };
  // One function for the cards' lifetime, so a card's stream is not reopened on every render.
  const onEndedRef = useRef(() => setRefreshKey((k) => k + 1));

  async function rerun(request) {
    setRerunError(null);
    const body = {};
    for (const key of RERUN_FIELDS) if (request?.[key] != null && request[key] !== "") body[key] = request[key];
    try {
      const video = await api("POST", VIDEOS, body);
      onCreated(video.id);
    } catch (e) {
      setRerunError(`Re-run: ${e.code}${e.field ? ` (${e.field})` : ""}: ${e.message}`);
    }
  }

  function edit(request) {
    setValues(formValuesOf(request));
    formRef.current?.scrollIntoView?.({ behavior: "smooth" });
    requestAnimationFrame(() => formRef.current?.querySelector("#field-prompt")?.focus());
  }

  return html`<header class="top">
      <h1>longshot</h1>
      <p>Long videos from a text prompt. <a href="openapi.json">HTTP API</a></p>
    </header>
    <main>
      ${schemaError && html`<p class="error" role="alert">${schemaError}</p>`}
      <div class="columns">
        <${PromptForm} schema=${schema} values=${values} setValues=${setValues} onCreated=${onCreated} formRef=${formRef} />
        <section class="now" aria-labelledby="now-title">
          <h2 id="now-title">Now</h2>
          ${rerunError && html`<p class="error" role="alert">${rerunError}</p>`}
          ${active.length === 0 && html`<p>Videos you start here show their progress here.</p>`}
          ${active.map(
            (id) => html`<${JobCard} key=${id} id=${id} onEnded=${onEndedRef.current}
              onDismiss=${(gone) => setActive((ids) => ids.filter((x) => x !== gone))} />`,
          )}
        </section>
      </div>
      <${Gallery} refreshKey=${refreshKey} onRerun=${rerun} onEdit=${edit} onWatch=${onCreated} watching=${active} />
    </main>`;
}

render(html`<${App} />`, document.getElementById("app"));
