// The served OpenAPI document read as form fields: each request body property with its type,
// bounds, enum, default and whether it is required, `$ref`s resolved and `anyOf [X, null]`
// read as an optional X.

// Base64 image inputs of the contract's request bodies: offered as file pickers.
const IMAGE_FIELD = /^(image|mask|control_image|preprocessed_image|image_prompt|input_image(_[2-4])?)$/;
// Rarely wanted in a playground: folded away under "More options".
const ADVANCED = new Set(["webhook_url", "webhook_secret"]);
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

/** The fields of an object schema, in the schema's order. */
export function fieldsOf(doc, objectSchema) {
  const required = new Set(objectSchema.required || []);
  return Object.entries(objectSchema.properties || {}).map(
    ([name, prop]) => field(doc, name, prop, required.has(name)),
  );
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
