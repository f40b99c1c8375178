// The Generate tab: choose an endpoint, fill the form drawn from its schema, submit, watch the
// task, see and download the image.

import { ApiError, pollTask, post } from "./api.js";
import { SchemaForm } from "./form.js";
import { el } from "./images.js";
import { bodySchema, fieldsOf, finetuneBase, generationOperations } from "./schema.js";

const $ = (id) => document.getElementById(id);

// The first endpoint offered: plain text to image, which every model set with a base model
// serves; a finetuned one would need a finetune picked first.
const PREFERRED_ENDPOINT = "/v1/flux-dev";
// emoji64 knows emoji names only: the form starts with one, so Generate shows it at its best.
const DEMO_PROMPT = "red apple";
// Said under each image, by /health's model_set: what drew it.
const DRAWN_BY = {
  dev: " Drawn by the dev model set: noise, by design.",
  emoji64: " Drawn by the emoji64 demo at 64x64, scaled to this size.",
};
// Said beside a kind of field, by model set: the dev set's references steer noise.
const FIELD_NOTES = {
  dev: { references: "On this server's dev model set they change the noise, not a picture." },
  emoji64: { references: "The emoji64 demo edits an emoji on white: \"make it blue\", " +
    "\"turn it into a book\", or two images and \"put them side by side\"." },
};
// The endpoint picker's groups: the finetuned endpoints, FLUX.1's base API, FLUX.2.
const FLUX2_PATH = /^\/v1\/flux-2-/;
const GROUPS = [
  ["finetuned", "Finetuned (your finetunes)"],
  ["flux1", "FLUX.1 models"],
  ["flux2", "FLUX.2 models (reference images)"],
];

export class GeneratePanel {
  constructor(doc, ready, { modelSet }) {
    this.doc = doc;
    this.finetunes = [];
    this.noFinetunes = "";
    this.form = null;
    this.polling = null;
    this.modelSet = modelSet;
    this.select = $("endpoint");
    this.fillEndpoints(generationOperations(doc), ready);
    this.select.addEventListener("change", () => this.showEndpoint());
    $("generate-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.showEndpoint();
  }

  /** Served endpoints are offered; those this server lacks a model for are listed, disabled. */
  fillEndpoints(ops, ready) {
    const served = new Set(ready?.endpoints || ops.map((op) => op.path));
    const unserved = ready?.endpoints_unserved || {};
    const groups = Object.fromEntries(GROUPS.map(([key, label]) => [key, el("optgroup", { label })]));
    for (const op of ops) {
      const off = !served.has(op.path);
      const why = off ? ` (not served here${unserved[op.path] ? `: no ${unserved[op.path]} model` : ""})` : "";
      const group = op.finetuned ? "finetuned" : FLUX2_PATH.test(op.path) ? "flux2" : "flux1";
      groups[group].append(el("option", {
        value: op.path, text: `${op.path}${why}`, title: op.summary, disabled: off,
      }));
    }
    this.select.replaceChildren(...Object.values(groups).filter((g) => g.childElementCount));
    const first = defaultEndpoint(ops.filter((op) => served.has(op.path)));
    if (first) this.select.value = first.path;
    this.summaries = Object.fromEntries(ops.map((op) => [op.path, op.summary]));
  }

  showEndpoint() {
    const path = this.select.value;
    if (path === this.shown) return; // a change event for the same endpoint keeps the inputs
    this.shown = path;
    $("endpoint-summary").textContent = this.summaries[path] || "";
    const schema = bodySchema(this.doc, path);
    const [finetunes, none] = this.finetunesFor(path);
    this.form = new SchemaForm($("generate-fields"), schema ? fieldsOf(this.doc, schema) : [], {
      prefix: "gen", finetunes, noFinetunes: none, notes: FIELD_NOTES[this.modelSet] || {},
    });
    const prompt = this.form.controls.get("prompt")?.input;
    if (prompt && this.modelSet === "emoji64" && prompt.value === "") prompt.value = DEMO_PROMPT;
    this.setStatus("");
  }

  setFinetunes(finetunes, none) {
    this.finetunes = finetunes;
    this.noFinetunes = none;
    this.form?.setFinetunes(...this.finetunesFor(this.shown));
  }

  /** The finetunes `path` takes (a FLUX.2 [klein] endpoint its base's LoRAs, a FLUX.1 one
   * FLUX.1's; the server refuses the others) and what to say when there are none. */
  finetunesFor(path) {
    const base = finetuneBase(path || "");
    const list = this.finetunes.filter((ft) => (ft.base ?? null) === base);
    if (list.length || !this.finetunes.length) return [list, this.noFinetunes];
    return [list, base ? `No FLUX.2 [${base}] LoRA yet: bring one on the Finetunes tab`
      : "No FLUX.1 finetunes yet: train one on the Finetunes tab"];
  }

  setStatus(text, kind = "") {
    const status = $("result-status");
    status.textContent = text;
    status.className = `status ${kind}`;
  }

  async submit() {
    this.polling?.abort();
    const path = this.select.value;
    const form = this.form;
    form.clearErrors();
    $("result").hidden = true;
    $("result-progress").hidden = true;
    this.setStatus(`Submitting to ${path}…`);
    let answer;
    try {
      answer = (await post(path, await form.values())).data;
    } catch (err) {
      this.refused(err, form);
      return;
    }
    this.watch(answer);
  }

  refused(err, form) {
    if (err instanceof ApiError && err.status === 422 && Array.isArray(err.detail)) {
      const rest = form.showErrors(err.detail);
      const more = rest.length ? ` ${new ApiError(422, rest).message}` : "";
      this.setStatus(`The server refused the request (422): see the marked fields.${more}`, "error");
    } else {
      this.setStatus(`The server refused the request: ${err.message}`, "error");
    }
  }

  async watch({ id, polling_url: pollingUrl }) {
    const controller = new AbortController();
    this.polling = controller;
    const bar = $("result-progress");
    bar.hidden = false;
    bar.removeAttribute("value");
    this.setStatus(`Queued: task ${id}`);
    try {
      const final = await pollTask(pollingUrl, id, (body) => this.update(body),
                                   { signal: controller.signal });
      bar.hidden = true;
      this.finish(final);
    } catch (err) {
      if (controller.signal.aborted) return; // a newer submission took over
      bar.hidden = true;
      this.setStatus(`Polling failed: ${err.message}`, "error");
    }
  }

  update(body) {
    if (body.status !== "Pending") return;
    const bar = $("result-progress");
    if (typeof body.progress === "number") {
      bar.value = body.progress;
      this.setStatus(`Pending: ${Math.round(body.progress * 100)}% (task ${body.id})`);
    } else {
      this.setStatus(`Pending: waiting for a worker (task ${body.id})`);
    }
  }

  finish(body) {
    if (body.status !== "Ready" || !body.result?.sample) {
      const why = body.details?.error || body.result?.error || "";
      this.setStatus(`${body.status}${why ? `: ${why}` : ""} (task ${body.id})`, "error");
      return;
    }
    const sample = body.result.sample;
    const img = $("result-image");
    const ext = new URL(sample, document.baseURI).pathname.split(".").pop() || "img";
    img.onload = () => {
      const drawnBy = DRAWN_BY[this.modelSet] || "";
      this.setStatus(`Ready: ${img.naturalWidth}x${img.naturalHeight} ${ext}.${drawnBy}`, "ok");
    };
    img.onerror = () => this.setStatus(`The image did not load from ${sample}`, "error");
    img.src = sample;
    const link = $("result-download");
    link.href = sample;
    link.download = `fluxhost-${body.id}.${ext}`;
    $("result").hidden = false;
  }
}

/** Of the served operations: flux-dev, else the first without a finetune, else the first. */
function defaultEndpoint(served) {
  return served.find((op) => op.path === PREFERRED_ENDPOINT)
    || served.find((op) => !op.finetuned) || served[0];
}
