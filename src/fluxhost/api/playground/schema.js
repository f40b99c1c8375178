// The served OpenAPI document read as form fields: each request body property with its type,
// bounds, enum, default and whether it is required, `$ref`s resolved and `anyOf [X, null]`
// read as an optional X.

// Base64 image inputs of the contract's request bodies: offered as file pickers.
const IMAGE_FIELD = /^(image|mask|control_image|preprocessed_image|image_prompt|input_image(_\d+)?)$/;
// Reference images, in order: input_image, input_image_2, ... (FLUX.2: up to 8; klein and
// Kontext: 4). Two or more are offered as one list of pickers (form.js, images.js).
const REFERENCE_FIELD = /^input_image(_\d+)?$/;
// Rarely wanted in a playground: folded away under "More options". (flex's blob path names the
// provider's own storage: this server refuses any value.)
const ADVANCED = new Set(["webhook_url", "webhook_secret", "user", "input_image_blob_path"]);
// Not generation endpoints, though they take a JSON body.
const NOT_GENERATION = new Set(["/v1/finetune", "/v1/delete_finetune"]);

function lookup(doc, ref) {
  if (!ref.startsWith("#/")) throw new Error(`unsupported $ref ${ref}`);
  return ref.slice(2).split("/").reduce((node, part) => node?.[part], doc);
}

/** `schema` with its $ref resolved; keywords beside the $ref (default, description) win. */
export function resolve(doc, schema, depth = 0) {
  if (!schema?.$ref) return schema;
  if (depth > 32) throw new Error(`$ref loop at ${schema.$ref}`);
  const { $ref, ...siblings } = schema;
  return { ...resolve(doc, lookup(doc, $ref), depth + 1), ...siblings };
}

/** The JSON body schema of POST `path`, resolved, or null. */
export function bodySchema(doc, path) {
  const op = doc.paths?.[path]?.post;
  const schema = op?.requestBody?.content?.["application/json"]?.schema;
  return schema ? resolve(doc, schema) : null;
}

/** The generation operations of the document: [{path, summary, finetuned}]. */
export function generationOperations(doc) {
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths || {})) {
    const body = bodySchema(doc, path);
    if (!body || NOT_GENERATION.has(path)) continue;
    const finetuned = (body.required || []).includes("finetune_id");
    ops.push({ path, summary: item.post.summary || path, finetuned });
  }
  return ops;
}

// A FLUX.2 finetuned endpoint's path names the base its LoRAs are uploaded for:
// /v1/flux-2-klein-4b-finetuned serves LoRAs uploaded with base=klein-4b.
const FLUX2_FINETUNED = /^\/v1\/flux-2-(.+)-finetuned$/;

/** The base a finetuned endpoint's finetunes are made for ("klein-4b"), or null (FLUX.1). */
export function finetuneBase(path) {
  return FLUX2_FINETUNED.exec(path)?.[1] ?? null;
}

function humanize(name) {
  return name.split("_").map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(" ");
}

/** One property as a field: the non-null branch of an anyOf, with the outer keywords on top. */
function field(doc, name, prop, required) {
  const outer = resolve(doc, prop);
  const branches = (outer.anyOf || []).map((b) => resolve(doc, b));
  const nonNull = branches.filter((b) => b.type !== "null");
  const { anyOf: _ignored, ...rest } = outer;
  const merged = { ...(nonNull.length === 1 ? nonNull[0] : {}), ...rest };
  const f = {
    name,
    // The property's own title: a referenced type's ("OutputFormat") names no field.
    title: prop.title || humanize(name),
    description: merged.description || "",
    required,
    nullable: branches.some((b) => b.type === "null"),
    type: merged.type || "string",
    enum: merged.enum || null,
    hasDefault: "default" in merged,
    default: merged.default,
    minimum: merged.minimum,
    maximum: merged.maximum,
    multipleOf: merged.multipleOf,
    format: merged.format,
    advanced: ADVANCED.has(name),
  };
  // A size whose default (0) is below its minimum: 0 means "the model picks" (FLUX.2's width
  // and height). Offered empty, and left out of the body while empty.
  f.modelPicks = f.hasDefault && f.default === 0 && f.minimum > 0;
  f.kind = kindOf(f);
  return f;
}

function kindOf(f) {
  if (f.name === "file_data") return "zip";
  if (f.name === "finetune_id") return "finetune";
  if (f.type === "string" && IMAGE_FIELD.test(f.name)) return "image";
  if (f.enum) return "enum";
  if (f.type === "boolean") return "boolean";
  if (f.type === "integer" || f.type === "number") return "number";
  if (f.name === "prompt") return "textarea";
  return "text";
}

/** The fields of an object schema, in the schema's order; two or more reference images
 * (input_image, input_image_2, ...) as one field of kind "references", where the first was. */
export function fieldsOf(doc, objectSchema) {
  const required = new Set(objectSchema.required || []);
  const fields = Object.entries(objectSchema.properties || {}).map(
    ([name, prop]) => field(doc, name, prop, required.has(name)),
  );
  const refs = fields.filter((f) => f.kind === "image" && REFERENCE_FIELD.test(f.name)
                                    && !f.required);
  if (refs.length < 2) return fields;
  const names = refs.map((f) => f.name).sort((a, b) => ordinal(a) - ordinal(b));
  const group = {
    name: names[0], names, kind: "references", title: "Reference images", required: false,
    description: `Optional, up to ${names.length}, sent in this order as ${names[0]}, `
      + `${names[1]}${names.length > 2 ? " and so on" : ""}; without one, text to image`,
    advanced: false,
  };
  const first = fields.indexOf(refs[0]);
  return fields.flatMap((f, i) => (i === first ? [group] : refs.includes(f) ? [] : [f]));
}

/** 1 for input_image, n for input_image_n. */
function ordinal(name) {
  const n = name.match(/_(\d+)$/);
  return n ? Number(n[1]) : 1;
}

/** "256 to 1440, multiple of 32" for a number field, or "". */
export function rangeText(f) {
  const parts = [];
  if (f.minimum !== undefined && f.maximum !== undefined) {
    parts.push(`${f.minimum} to ${f.maximum}`);
  } else if (f.minimum !== undefined) {
    parts.push(`at least ${f.minimum}`);
  } else if (f.maximum !== undefined) {
    parts.push(`at most ${f.maximum}`);
  }
  if (f.multipleOf !== undefined) parts.push(`multiple of ${f.multipleOf}`);
  return parts.join(", ");
}
