// Image inputs: a file picker whose file is read in the browser and sent as base64 in the JSON
// body, as the contract's image fields take it. Nothing is uploaded until the form is submitted.

export const IMAGE_TYPES = "image/png,image/jpeg,image/webp";

/** The bytes of a Blob as base64 (no data: prefix). */
export function blobToBase64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

/** A picker with a thumbnail and a Clear button; `value` is the picked file as base64. */
export class ImageInput {
  constructor(id, onChange = () => {}) {
    this.value = null;
    this.file = null;
    this.pending = Promise.resolve(); // the read of the last picked file
    this.onChange = onChange;
    this.input = el("input", { type: "file", id, accept: IMAGE_TYPES });
    this.thumb = el("img", { class: "thumb", alt: "", hidden: true });
    this.clear = el("button", { type: "button", class: "small", text: "Clear", hidden: true });
    this.element = el("div", { class: "image-input" }, this.input, this.thumb, this.clear);
    this.input.addEventListener("change", () => {
      this.pending = this.pick(this.input.files[0] || null);
    });
    this.clear.addEventListener("click", () => {
      this.input.value = "";
      this.pending = this.pick(null);
    });
  }

  async pick(file) {
    if (this.thumb.src) URL.revokeObjectURL(this.thumb.src);
    this.file = file;
    this.value = file ? await blobToBase64(file) : null;
    this.thumb.hidden = this.clear.hidden = !file;
    if (file) this.thumb.src = URL.createObjectURL(file);
    else this.thumb.removeAttribute("src");
    this.onChange(file);
  }
}

/**
 * Reference images (FLUX.2's input_image ... input_image_8, klein's and Kontext's four): a list
 * of pickers, one to start with, up to `names.length`, added and removed by the user. Picked
 * images are sent in the list's order as input_image, input_image_2, ... (empty pickers are
 * skipped). Each row's picker has the id of the field it stands for, `${prefix}-${name}`,
 * renumbered when a row goes.
 */
export class ReferenceList {
  constructor(prefix, names) {
    this.prefix = prefix;
    this.names = names;
    this.rows = [];
    this.list = el("ol", { class: "references" });
    this.add = el("button", {
      type: "button", class: "small", id: `${prefix}-references-add`, text: "Add a reference",
    });
    this.count = el("span", { class: "hint", id: `${prefix}-references-count` });
    this.add.addEventListener("click", () => {
      this.append().picker.input.focus();
    });
    this.element = el("div", { class: "reference-list" }, this.list,
      el("div", { class: "row" }, this.add, this.count));
    this.append();
  }

  /** The first picker's input: what the field's label and an error point at. */
  get input() {
    return this.rows[0].picker.input;
  }

  append() {
    if (this.rows.length >= this.names.length) return this.rows[this.rows.length - 1];
    const picker = new ImageInput("");
    const name = el("span", { class: "ref-name" });
    const remove = el("button", { type: "button", class: "small ref-remove", text: "Remove" });
    const row = { picker, name, remove, element: el("li", {}, name, picker.element, remove) };
    picker.onChange = () => this.renumber();
    remove.addEventListener("click", () => this.remove(row));
    this.rows.push(row);
    this.list.append(row.element);
    this.renumber();
    return row;
  }

  remove(row) {
    if (this.rows.length === 1) { // the last one is cleared, not removed: a place to pick
      row.picker.input.value = "";
      row.picker.pending = row.picker.pick(null);
      return;
    }
    if (row.picker.thumb.src) URL.revokeObjectURL(row.picker.thumb.src);
    this.rows.splice(this.rows.indexOf(row), 1);
    row.element.remove();
    this.renumber();
  }

  renumber() {
    this.rows.forEach((row, i) => {
      const field = this.names[i];
      row.picker.input.id = `${this.prefix}-${field}`;
      row.picker.input.setAttribute("aria-label", `Reference ${i + 1} (${field})`);
      row.element.dataset.ref = field;
      row.name.textContent = `${i + 1}.`;
      row.remove.setAttribute("aria-label", `Remove reference ${i + 1}`);
    });
    const full = this.rows.length >= this.names.length;
    this.add.disabled = full;
    const picked = this.rows.filter((row) => row.picker.file).length;
    this.count.textContent = `${picked} of at most ${this.names.length} picked`;
  }

  /** {input_image: base64, input_image_2: ...}: the picked images in order, gaps closed. */
  async value() {
    await Promise.all(this.rows.map((row) => row.picker.pending));
    const images = this.rows.map((row) => row.picker.value).filter(Boolean);
    return Object.fromEntries(images.map((b64, i) => [this.names[i], b64]));
  }
}
