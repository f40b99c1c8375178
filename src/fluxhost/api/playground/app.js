// The playground's entry: the key, the model-set banner, the tabs, the two panels and the LoRA
// upload form, all from
// what this server itself says (/health, /ready, /openapi.json).

import { get, getKey, setKey } from "./api.js";
import { FinetunesPanel } from "./finetunes.js";
import { GeneratePanel } from "./generate.js";
import { LoraForm } from "./loras.js";
import { generationOperations } from "./schema.js";

const $ = (id) => document.getElementById(id);

function showTab(name) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const on = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", String(on));
    $(`panel-${tab.dataset.tab}`).hidden = !on;
  }
}

function fatal(message) {
  const box = $("load-error");
  box.textContent = message;
  box.hidden = false;
}

// /health's `model_set` -> the banner that says what runs. Real weights ("configured") need none.
const BANNERS = { dev: "dev-banner", emoji64: "demo-banner" };

/** Shows the banner of the model set /health names; returns that name ("" if unknown). */
function showModelBanner(health) {
  const modelSet = typeof health?.model_set === "string" ? health.model_set : "";
  for (const [name, id] of Object.entries(BANNERS)) $(id).hidden = name !== modelSet;
  return modelSet;
}

async function start() {
  const keyInput = $("api-key");
  keyInput.value = getKey();
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => showTab(tab.dataset.tab));
  }

  let doc, ready, health;
  try {
    [doc, ready, health] = await Promise.all([
      get("openapi.json").then((r) => r.data),
      // 503 while the models load: its body still lists the endpoints.
      get("ready", { accept: [503] }).then((r) => r.data).catch(() => null),
      get("health").then((r) => r.data).catch(() => null),
    ]);
  } catch (err) {
    fatal(`Could not read this server's API schema (openapi.json): ${err.message}`);
    return;
  }
  const modelSet = showModelBanner(health);
  const generate = new GeneratePanel(doc, ready, { modelSet });
  const finetunes = new FinetunesPanel(doc, {
    onChange: (list, none) => generate.setFinetunes(list, none),
  });
  new LoraForm(generationOperations(doc), ready, { onUploaded: () => finetunes.load() });

  const useKey = () => {
    setKey(keyInput.value.trim());
    $("key-state").textContent = getKey() ? "Key saved in this browser." : "No key yet.";
    if (getKey()) finetunes.load();
    else finetunes.forget();
  };
  keyInput.addEventListener("change", useKey);
  $("key-forget").addEventListener("click", () => {
    keyInput.value = "";
    useKey();
  });
  useKey();
  document.body.dataset.ready = "true"; // for scripts and tests: the page is wired up
}

start();
