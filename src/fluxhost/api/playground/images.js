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
