// The Finetunes tab's "Bring a FLUX.2 [klein] LoRA" form: a .safetensors file uploaded under a
// name to POST v1/fluxhost/finetunes/upload, the file as the raw body and name, base, trigger
// word and comment in the query. The server checks everything and its refusal is shown here;
// the page only hints (the name rule, the bases this server serves, the size limit).

import { ApiError, postBytes } from "./api.js";
import { el } from "./images.js";
import { finetuneBase } from "./schema.js";

const $ = (id) => document.getElementById(id);
const UPLOAD_PATH = "v1/fluxhost/finetunes/upload";
// The server's rule (wire/flux2_finetuned.py): lowercase letters, digits, '-', '_'; not a uuid.
const NAME_RULE = /^[a-z0-9_-]{1,64}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NAME_HINT = "1 to 64 lowercase letters, digits, - and _; unique among this key's finetunes.";
const FIELDS = ["file", "name", "base", "trigger_word", "comment"];
const MiB = 1024 * 1024;

/** Why the server will refuse `name`, or "" (a hint: the server decides). */
export function nameProblem(name) {
  if (!NAME_RULE.test(name)) return "The server will refuse this name: use 1 to 64 lowercase "
    + "letters, digits, - and _.";
  if (UUID.test(name)) {
    return "The server will refuse this name: it has the shape of a finetune id.";
  }
  return "";
}

/** The LoRA size limit this server states in the page (LORA_UPLOAD_MAX_MB), or Infinity. */
function maxLoraBytes() {
  const meta = document.querySelector('meta[name="fluxhost-lora-upload-max-bytes"]');
  const limit = Number(meta?.content);
  return Number.isFinite(limit) && limit > 0 ? limit : Infinity;
}

/** Which field a refusal with a text `detail` is about, by its status (routers/loras.py). */
function fieldOfStatus(status) {
  return { 409: "name", 413: "file", 422: "file", 501: "base" }[status] || "";
}

export class LoraForm {
  /** `ops`: the generation operations (schema.js); `ready`: /ready's body or null;
   * `onUploaded(answer)`: called after a LoRA is kept. */
  constructor(ops, ready, { onUploaded }) {
    this.onUploaded = onUploaded;
    this.fillBases(ops, ready);
    $("lora-name").addEventListener("input", () => this.hintName());
    $("lora-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.upload();
    });
  }

  /** The bases of the FLUX.2 finetuned endpoints; those this server has no model for disabled. */
  fillBases(ops, ready) {
    const served = new Set(ready?.endpoints || ops.map((op) => op.path));
    const select = $("lora-base");
    const bases = ops.filter((op) => op.finetuned && finetuneBase(op.path));
    select.replaceChildren(...bases.map((op) => {
      const base = finetuneBase(op.path);
      const on = served.has(op.path);
      return el("option", {
        value: base, disabled: !on,
        text: `FLUX.2 [${base}]: served on ${op.path}${on ? "" : " (not served here)"}`,
      });
    }));
    const first = bases.find((op) => served.has(op.path));
    if (first) select.value = finetuneBase(first.path);
    $("lora-submit").disabled = !first;
    $("lora-base-hint").textContent = first
      ? "The model the LoRA was trained for; its -finetuned endpoint serves it."
      : "This server has no FLUX.2 [klein] model (FLUXHOST_MODELS): it takes no LoRA.";
  }

  hintName() {
    const name = $("lora-name").value;
    const problem = name ? nameProblem(name) : "";
    const hint = $("lora-name-hint");
    hint.textContent = problem || NAME_HINT;
    hint.className = problem ? "hint warn" : "hint";
  }

  setStatus(text, kind = "") {
    const status = $("lora-status");
    status.textContent = text;
    status.className = `status ${kind}`;
  }

  clearErrors() {
    for (const name of FIELDS) {
      const p = $(`lora-${name}-error`);
      p.hidden = true;
      p.textContent = "";
      $(`lora-${name}`).removeAttribute("aria-invalid");
    }
  }

  showError(field, message) {
    const p = $(`lora-${field}-error`);
    if (!p) return false;
    p.textContent = p.textContent ? `${p.textContent}; ${message}` : message;
    p.hidden = false;
    $(`lora-${field}`).setAttribute("aria-invalid", "true");
    return true;
  }

  /** The query of the upload: empty optional fields are left out. */
  query() {
    const params = new URLSearchParams({ name: $("lora-name").value, base: $("lora-base").value });
    for (const field of ["trigger_word", "comment"]) {
      const value = $(`lora-${field}`).value;
      if (value !== "") params.set(field, value);
    }
    return params;
  }

  async upload() {
    this.clearErrors();
    const file = $("lora-file").files[0];
    if (!file) {
      this.showError("file", "Pick the LoRA's .safetensors file.");
      this.setStatus("Not uploaded: no file picked.", "error");
      return;
    }
    const max = maxLoraBytes();
    if (file.size > max) {
      const why = `The file is ${(file.size / MiB).toFixed(1)} MiB; this server takes LoRAs of `
        + `at most ${(max / MiB).toFixed(1)} MiB (LORA_UPLOAD_MAX_MB).`;
      this.showError("file", why);
      this.setStatus(`Not uploaded: ${why}`, "error");
      return;
    }
    const params = this.query();
    const button = $("lora-submit");
    button.disabled = true;
    this.setStatus(`Uploading ${file.name} (${(file.size / MiB).toFixed(1)} MiB); the server `
      + `checks it against ${params.get("base")}…`);
    let answer;
    try {
      answer = (await postBytes(`${UPLOAD_PATH}?${params}`, file)).data;
    } catch (err) {
      this.refused(err);
      return;
    } finally {
      button.disabled = false;
    }
    this.setStatus(`Uploaded: ${answer.finetune_id} (${answer.layout} keys, rank ${answer.rank}, `
      + `${answer.modules} layers) is served by ${answer.endpoint}: pick it there on the `
      + "Generate tab.", "ok");
    for (const field of ["file", "name", "trigger_word", "comment"]) $(`lora-${field}`).value = "";
    this.hintName();
    await this.onUploaded(answer);
  }

  /** The server's refusal, next to the form: a 422's items under the query fields they name,
   * any other detail in the status line (and under the field it is about). */
  refused(err) {
    if (err instanceof ApiError && err.status === 422 && Array.isArray(err.detail)) {
      const rest = err.detail.filter((item) => !(item?.loc?.[0] === "query"
        && this.showError(String(item.loc[1]), item.msg)));
      const more = rest.length ? ` ${new ApiError(422, rest).message}` : "";
      this.setStatus(`The server refused the upload (422): see the marked fields.${more}`, "error");
      return;
    }
    if (err instanceof ApiError && typeof err.detail === "string") {
      const field = fieldOfStatus(err.status);
      if (field) this.showError(field, err.detail);
    }
    this.setStatus(`The server refused the LoRA: ${err.message}`, "error");
  }
}
