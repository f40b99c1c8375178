// The Finetunes tab: upload a ZIP or a folder of images (zipped here, store-only), watch the
// training, list the key's finetunes (FLUX.1 ones and FLUX.2 [klein] LoRAs, uploaded by
// loras.js or trained) with their details, delete one.

import { ApiError, get, pollTask, post } from "./api.js";
import { SchemaForm } from "./form.js";
import { blobToBase64, el } from "./images.js";
import { bodySchema, fieldsOf } from "./schema.js";
import { zipStore } from "./zip.js";

const $ = (id) => document.getElementById(id);
const DATASET_FILE = /\.(jpe?g|png|webp|txt)$/i;
const IMAGE_FILE = /\.(jpe?g|png|webp)$/i;
const MAX_IMAGES = 20; // the server's dataset limit (training/dataset.py)
// Room for the JSON around file_data (comment, trigger word, ...).
const BODY_MARGIN = 64 * 1024;
const MiB = 1024 * 1024;

/** A problem with what the user picked, shown under the field like the server's 422s. */
class FieldProblem extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

/** The largest ZIP the server takes: its body limit (written into the page) less base64's third. */
function maxZipBytes() {
  const limit = Number(document.querySelector('meta[name="fluxhost-max-body-bytes"]')?.content);
  return Number.isFinite(limit) ? Math.floor(((limit - BODY_MARGIN) * 3) / 4) : Infinity;
}

function checkSize(bytes) {
  const max = maxZipBytes();
  if (bytes > max) {
    throw new FieldProblem("file_data", `The ZIP is ${(bytes / MiB).toFixed(1)} MiB; this server `
      + `takes at most ${(max / MiB).toFixed(1)} MiB (its request body limit, less base64's third).`);
  }
}

/** A picked folder's dataset files, named by their path inside the folder. */
function datasetFiles(files) {
  return [...files].map((file) => {
    const path = (file.webkitRelativePath || file.name).split("/");
    return { file, name: path.length > 1 ? path.slice(1).join("/") : path[0] };
  }).filter(({ name }) => DATASET_FILE.test(name)
    && !name.split("/").some((part) => part.startsWith(".") || part === "__MACOSX"));
}

async function zipFolder(files) {
  const picked = datasetFiles(files);
  const images = picked.filter(({ name }) => IMAGE_FILE.test(name)).length;
  if (images === 0) throw new FieldProblem("file_data", "The folder has no jpg, png or webp image.");
  if (images > MAX_IMAGES) {
    throw new FieldProblem("file_data", `The folder has ${images} images; at most ${MAX_IMAGES}.`);
  }
  checkSize(picked.reduce((n, { file }) => n + file.size, 0));
  const entries = await Promise.all(picked.map(async ({ file, name }) => ({
    name, data: new Uint8Array(await file.arrayBuffer()), date: new Date(file.lastModified),
  })));
  const zip = zipStore(entries);
  checkSize(zip.length);
  return zip;
}

/** file_data: a ZIP file, or a folder zipped here. */
function datasetControl(f, id) {
  const zipInput = el("input", { type: "file", id, accept: ".zip,application/zip" });
  const folderInput = el("input", { type: "file", id: `${id}-folder`, webkitdirectory: true,
                                    multiple: true });
  const note = el("p", { class: "hint" });
  const element = el("div", { class: "dataset" },
    el("label", { class: "inline", text: "ZIP file " }, zipInput),
    el("label", { class: "inline", text: " or a folder of images " }, folderInput), note);
  const describe = () => {
    const files = datasetFiles(folderInput.files);
    note.textContent = zipInput.files[0] ? `ZIP: ${zipInput.files[0].name}`
      : files.length ? `Folder: ${files.length} files, zipped in this browser on upload` : "";
  };
  zipInput.addEventListener("change", () => { folderInput.value = ""; describe(); });
  folderInput.addEventListener("change", () => { zipInput.value = ""; describe(); });
  const value = async () => {
    const zipFile = zipInput.files[0];
    if (zipFile) {
      checkSize(zipFile.size);
      return blobToBase64(zipFile);
    }
    if (folderInput.files.length) return blobToBase64(new Blob([await zipFolder(folderInput.files)]));
    return undefined;
  };
  return { element, input: zipInput, value };
}

/** A finetune as the Generate tab offers it: an uploaded LoRA by its name (what its endpoint
 * takes), a trained finetune by its comment and the start of its id. */
function label(id, details) {
  const trigger = `(${details.trigger_word || "?"})`;
  const named = details.id && details.id !== id;
  const text = named ? `${id} ${trigger}`
    : `${details.finetune_comment || id} ${trigger}, ${id.slice(0, 8)}`;
  return text + (details.status === "Ready" ? "" : `, ${details.status}`);
}

export class FinetunesPanel {
  constructor(doc, { onChange }) {
    this.onChange = onChange;
    this.watching = new Map();
    const schema = bodySchema(doc, "/v1/finetune");
    this.form = new SchemaForm($("finetune-fields"), schema ? fieldsOf(doc, schema) : [], {
      prefix: "ft", custom: { file_data: datasetControl },
    });
    $("finetune-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.upload();
    });
    $("finetune-refresh").addEventListener("click", () => this.load());
  }

  setStatus(text, kind = "") {
    const status = $("finetune-status");
    status.textContent = text;
    status.className = `status ${kind}`;
  }

  async upload() {
    this.form.clearErrors();
    this.setStatus("Preparing the upload…");
    try {
      const body = await this.form.values();
      this.setStatus("Uploading…");
      const { finetune_id: id } = (await post("v1/finetune", body)).data;
      this.setStatus(`Uploaded: finetune ${id} is training (progress in the list below).`, "ok");
    } catch (err) {
      this.refused(err);
      return;
    }
    await this.load();
  }

  refused(err) {
    if (err instanceof FieldProblem) {
      this.form.showErrors([{ loc: ["body", err.field], msg: err.message }]);
      this.setStatus(`Not uploaded: ${err.message}`, "error");
    } else if (err instanceof ApiError && err.status === 422 && Array.isArray(err.detail)) {
      const rest = this.form.showErrors(err.detail);
      const more = rest.length ? ` ${new ApiError(422, rest).message}` : "";
      this.setStatus(`The server refused the upload (422): see the marked fields.${more}`, "error");
    } else {
      this.setStatus(`The server refused the upload: ${err.message}`, "error");
    }
  }

  /** No key: nothing to list. */
  forget() {
    $("finetune-list").replaceChildren();
    $("finetune-list-status").textContent = "Paste your key above to see your finetunes.";
    this.onChange([], "Paste your key above to list your finetunes");
  }

  /** The key's finetunes with their details; Pending ones are watched until they end. */
  async load() {
    const table = $("finetune-list");
    let rows;
    try {
      const ids = (await get("v1/my_finetunes")).data.finetunes || [];
      rows = await Promise.all(ids.map(async (id) => {
        const q = `v1/finetune_details?finetune_id=${encodeURIComponent(id)}`;
        return { id, details: (await get(q)).data.finetune_details || {} };
      }));
    } catch (err) {
      const why = `Could not list your finetunes: ${err.message}`;
      $("finetune-list-status").textContent = why;
      table.replaceChildren();
      this.onChange([], why);
      return;
    }
    rows.sort((a, b) => String(b.details.timestamp).localeCompare(String(a.details.timestamp)));
    $("finetune-list-status").textContent = rows.length ? "" : "No finetunes for this key yet.";
    table.replaceChildren(...rows.map((row) => this.row(row)));
    for (const row of rows) if (row.details.status === "Pending") this.watch(row.id);
    this.onChange(rows.map(({ id, details }) => ({
      id, usable: details.status === "Ready", base: details.base_model ?? null,
      label: label(id, details),
    })), "No finetunes yet: train one on the Finetunes tab");
  }

  row({ id, details }) {
    const progress = el("progress", { max: 1, hidden: details.status !== "Pending" });
    const del = el("button", { type: "button", class: "small danger", text: "Delete" });
    del.addEventListener("click", () => this.remove(id, details.finetune_comment));
    const more = el("details", {}, el("summary", { text: "Details" }),
      el("pre", { text: JSON.stringify(details, null, 2) }));
    const tr = el("tr", { "data-finetune": id },
      el("td", { text: details.finetune_comment || "" }),
      el("td", { text: details.trigger_word || "" }),
      el("td", { text: details.base_model ? `FLUX.2 [${details.base_model}]` : "FLUX.1" }),
      el("td", { class: "training" }, el("span", { text: details.status || "" }), progress),
      el("td", { text: details.timestamp ? new Date(details.timestamp).toLocaleString() : "" }),
      el("td", {}, el("code", { text: id }), more),
      el("td", {}, del));
    return tr;
  }

  async watch(id) {
    if (this.watching.has(id)) return;
    this.watching.set(id, true);
    const cell = () => document.querySelector(`tr[data-finetune="${id}"] .training`);
    try {
      await pollTask(null, id, (body) => {
        const td = cell();
        if (!td || body.status !== "Pending") return;
        const bar = td.querySelector("progress");
        const running = typeof body.progress === "number"; // null: queued, not yet claimed
        if (running) bar.value = body.progress;
        else bar.removeAttribute("value");
        td.querySelector("span").textContent = running
          ? `Training ${Math.round(body.progress * 100)}%` : "Queued: waiting for a worker";
      }, { intervalMs: 1000 });
    } catch (err) {
      const td = cell();
      if (td) td.querySelector("span").textContent = `Could not watch: ${err.message}`;
      return;
    } finally {
      this.watching.delete(id);
    }
    await this.load();
  }

  async remove(id, comment) {
    if (!window.confirm(`Delete finetune ${comment || ""} (${id})? This cannot be undone.`)) return;
    try {
      await post("v1/delete_finetune", { finetune_id: id });
      this.setStatus(`Deleted finetune ${id}.`, "ok");
    } catch (err) {
      this.setStatus(`Could not delete ${id}: ${err.message}`, "error");
    }
    await this.load();
  }
}
