// A fill mask painted over the picked image. The canvas has the image's own pixel size (the
// server checks that mask and image match); strokes are white, the rest becomes black when the
// mask is exported: white = regenerate, black = keep, as the contract's `mask` says.

import { el } from "./images.js";

export class MaskPainter {
  constructor(id) {
    this.painted = false;
    this.drawing = false;
    this.image = el("img", { alt: "image to paint the mask on" });
    this.canvas = el("canvas", { id, class: "mask-canvas" });
    this.brush = el("input", { type: "range", min: 4, max: 160, value: 40 });
    const clear = el("button", { type: "button", class: "small", text: "Clear mask" });
    this.element = el(
      "div", { class: "mask-painter", hidden: true },
      el("p", { class: "hint", text: "Or paint the mask: white strokes mark what is regenerated." }),
      el("div", { class: "stage" }, this.image, this.canvas),
      el("div", { class: "row" }, el("label", { text: "Brush " }, this.brush), clear),
    );
    clear.addEventListener("click", () => this.reset());
    this.canvas.addEventListener("pointerdown", (e) => this.start(e));
    this.canvas.addEventListener("pointermove", (e) => this.move(e));
    for (const type of ["pointerup", "pointercancel"]) {
      this.canvas.addEventListener(type, () => { this.drawing = false; });
    }
  }

  /** Shows `file` to paint on (null hides the painter); the mask starts empty. */
  setImage(file) {
    if (this.image.src) URL.revokeObjectURL(this.image.src);
    this.element.hidden = !file;
    if (!file) return;
    this.image.onload = () => {
      this.canvas.width = this.image.naturalWidth;
      this.canvas.height = this.image.naturalHeight;
      this.reset();
    };
    this.image.src = URL.createObjectURL(file);
  }

  reset() {
    this.canvas.getContext("2d").clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.painted = false;
  }

  point(e) {
    const box = this.canvas.getBoundingClientRect();
    const scale = this.canvas.width / box.width;
    return [(e.clientX - box.left) * scale, (e.clientY - box.top) * scale, scale];
  }

  start(e) {
    e.preventDefault();
    this.canvas.setPointerCapture(e.pointerId);
    this.drawing = true;
    const [x, y, scale] = this.point(e);
    const ctx = this.canvas.getContext("2d");
    Object.assign(ctx, { strokeStyle: "#fff", fillStyle: "#fff", lineCap: "round",
                         lineJoin: "round", lineWidth: Number(this.brush.value) * scale });
    ctx.beginPath();
    ctx.arc(x, y, ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fill();
    ctx.beginPath();
    ctx.moveTo(x, y);
    this.painted = true;
  }

  move(e) {
    if (!this.drawing) return;
    const [x, y] = this.point(e);
    const ctx = this.canvas.getContext("2d");
    ctx.lineTo(x, y);
    ctx.stroke();
  }

  /** The painted mask as a base64 PNG: black everywhere, white where painted; null if none. */
  toBase64() {
    if (!this.painted) return null;
    const out = el("canvas");
    out.width = this.canvas.width;
    out.height = this.canvas.height;
    const ctx = out.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.drawImage(this.canvas, 0, 0);
    return out.toDataURL("image/png").split(",", 2)[1];
  }
}
