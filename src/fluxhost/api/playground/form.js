// A form built from schema fields (schema.js): one control per field with the contract's
// default filled in and its bounds on the input, read back as the JSON body to send. The
// server's 422 items are shown under the fields they name.

import { fieldOf } from "./api.js";
import { el, ImageInput, ReferenceList } from "./images.js";
import { MaskPainter } from "./mask.js";
import { rangeText } from "./schema.js";

export class SchemaForm {
  /**
   * `prefix` makes element ids (`${prefix}-${field}`); `custom` maps a field name to a factory
   * returning {element, value(): Promise<any>} for fields this module does not draw itself.
   */
  constructor(container, fields, { prefix, finetunes = [], noFinetunes = "", custom = {},
                                   notes = {} }) {
    this.fields = fields;
    this.prefix = prefix;
    this.controls = new Map();
    this.errors = new Map();
    // A body field shown by another field's control (input_image_2 by the reference list).
    this.shownBy = new Map();
    this.custom = custom;
    this.notes = notes; // kind -> a sentence added to that kind of field's hint
    container.replaceChildren();
    const advanced = el("details", { class: "advanced" }, el("summary", { text: "More options" }));
    for (const f of fields) {
      (f.advanced ? advanced : container).append(this.row(f));
    }
    if (advanced.childElementCount > 1) container.append(advanced);
    this.setFinetunes(finetunes, noFinetunes);
    this.linkMask();
  }

  row(f) {
    const id = `${this.prefix}-${f.name}`;
    const control = this.control(f, id);
    this.controls.set(f.name, control);
    const label = el("label", { for: id, text: f.title });
    if (f.required) label.append(el("span", { class: "required", title: "required", text: " *" }));
    const hints = [f.kind === "number" ? rangeText(f) : "", f.description,
                   f.modelPicks ? "Empty: the model picks (the first reference's size, else 1024)" : "",
                   this.notes[f.kind] || ""].filter(Boolean);
    const error = el("p", { class: "field-error", role: "alert", hidden: true });
    this.errors.set(f.name, error);
    for (const name of f.names || []) if (name !== f.name) this.shownBy.set(name, f.name);
    return el("div", { class: `field kind-${f.kind}`, "data-field": f.name },
      label, control.element, el("p", { class: "hint", text: hints.join(". ") }), error);
  }

  control(f, id) {
    if (this.custom[f.name]) return this.custom[f.name](f, id);
    switch (f.kind) {
      case "image": return imageControl(f, id);
      case "references": return referencesControl(f, this.prefix);
      case "finetune": return selectControl(id, [], f);
      case "enum": return selectControl(id, f.enum, f);
      case "boolean": return checkboxControl(f, id);
      case "number": return numberControl(f, id);
      default: return textControl(f, id);
    }
  }

  /** Fill: the mask field also offers painting over the picked `image`. */
  linkMask() {
    const image = this.controls.get("image");
    const mask = this.controls.get("mask");
    if (!image?.picker || !mask?.picker) return;
    const painter = new MaskPainter(`${this.prefix}-mask-canvas`);
    mask.element.append(painter.element);
    image.picker.onChange = (file) => painter.setImage(file);
    const uploaded = mask.value;
    mask.value = async () => (await uploaded()) ?? painter.toBase64() ?? undefined;
  }

  /** Offers `finetunes` ([{id, label, usable}]) in every finetune_id select; `none` says why
   * there are none. None is preselected: a finetune changes every image, so the user picks
   * one (a choice already made is kept while that finetune stays usable). */
  setFinetunes(finetunes, none = "") {
    for (const f of this.fields) {
      if (f.kind !== "finetune") continue;
      const select = this.controls.get(f.name).input;
      const before = select.value;
      select.replaceChildren(el("option", {
        value: "", text: finetunes.length ? "Choose a finetune" : none || "No finetunes yet",
      }));
      for (const ft of finetunes) {
        select.append(el("option", { value: ft.id, text: ft.label, disabled: !ft.usable }));
      }
      const keep = finetunes.find((ft) => ft.id === before && ft.usable);
      select.value = keep ? before : "";
    }
  }

  /** The JSON body: empty optional inputs are left out, so the server's defaults apply. */
  async values() {
    const body = {};
    for (const [name, control] of this.controls) {
      const value = await control.value();
      if (control.spread) Object.assign(body, value); // several fields (the references)
      else if (value !== undefined) body[name] = value;
    }
    return body;
  }

  clearErrors() {
    for (const [name, p] of this.errors) {
      p.hidden = true;
      p.textContent = "";
      this.controls.get(name).input?.removeAttribute("aria-invalid");
    }
  }

  /** Puts each 422 item under its field; returns the items that name no field here. */
  showErrors(items) {
    const rest = [];
    for (const item of items) {
      const field = fieldOf(item);
      const name = this.shownBy.get(field) ?? field;
      const p = this.errors.get(name);
      if (!p) {
        rest.push(item);
        continue;
      }
      // In a list of several fields, the message says which one.
      const msg = this.fields.some((f) => f.name === name && f.names) ? `${field}: ${item.msg}`
        : item.msg;
      p.textContent = p.textContent ? `${p.textContent}; ${msg}` : msg;
      p.hidden = false;
      p.closest("details")?.setAttribute("open", ""); // an error under "More options" shows
      this.controls.get(name).input?.setAttribute("aria-invalid", "true");
    }
    const first = [...this.errors.values()].find((p) => !p.hidden);
    first?.closest(".field")?.scrollIntoView({ block: "center" });
    return rest;
  }
}

function imageControl(f, id) {
  const picker = new ImageInput(id);
  return {
    element: picker.element, input: picker.input, picker,
    value: async () => {
      await picker.pending;
      return picker.value ?? undefined;
    },
  };
}

function referencesControl(f, prefix) {
  const list = new ReferenceList(prefix, f.names);
  return {
    element: list.element, list, spread: true,
    get input() { return list.input; }, // the first picker (a row may go)
    value: () => list.value(),
  };
}

function selectControl(id, options, f) {
  const input = el("select", { id, name: f.name });
  const blank = !f.required && !f.hasDefault;
  if (blank) input.append(el("option", { value: "", text: "(server default)" }));
  options.forEach((opt, i) => {
    input.append(el("option", { value: String(i), text: String(opt) }));
  });
  if (f.hasDefault && options.includes(f.default)) {
    input.value = String(options.indexOf(f.default));
  }
  // Enum values keep their JSON type (lora_rank is 16, not "16"); finetune ids are strings.
  const value = () => {
    if (input.value === "") return undefined;
    return f.kind === "enum" ? f.enum[Number(input.value)] : input.value;
  };
  return { element: input, input, value: async () => value() };
}

function checkboxControl(f, id) {
  const input = el("input", { type: "checkbox", id, name: f.name });
  input.checked = f.default === true;
  return { element: input, input, value: async () => input.checked };
}

function numberControl(f, id) {
  const step = f.multipleOf ?? (f.type === "integer" ? 1 : "any");
  const input = el("input", {
    type: "number", id, name: f.name, min: f.minimum, max: f.maximum, step,
    inputmode: f.type === "integer" ? "numeric" : "decimal",
  });
  if (f.modelPicks) input.placeholder = "model picks";
  else if (f.hasDefault && f.default !== null) input.value = String(f.default);
  const value = () => {
    // What the browser cannot read as a number goes as typed: the server says what is wrong.
    if (input.validity.badInput) return input.value || "not a number";
    return input.value.trim() === "" ? undefined : Number(input.value);
  };
  return { element: input, input, value: async () => value() };
}

function textControl(f, id) {
  const multiline = f.kind === "textarea";
  const input = el(multiline ? "textarea" : "input", {
    id, name: f.name, rows: multiline ? 3 : undefined,
    type: multiline ? undefined : f.format === "uri" ? "url" : "text",
    spellcheck: multiline ? "true" : "false",
  });
  if (f.hasDefault && typeof f.default === "string") input.value = f.default;
  return { element: input, input, value: async () => input.value === "" ? undefined : input.value };
}
