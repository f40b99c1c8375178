"""The playground at `/` in a real browser: Debian's headless Chromium, driven by Playwright,
against `fluxhost serve` on loopback with the dev model set and an embedded worker (and, for
the first screen `make serve` shows, the emoji64 demo set). The page runs under its own strict
Content-Security-Policy; every request stays on loopback.

Screenshots land in .bench-out/playground-screenshots/ (git-ignored), one per step, named in
the order the tests take them; the path is printed (run with -s to see it)."""

from __future__ import annotations

import base64
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from PIL import Image

from fluxhost import catalog
from tests.e2e.conftest import Deployment, provision
from tests.e2e.harness import Node
from tests.e2e.test_docs_browser import Browser, Chromium

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.service, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[2] / ".bench-out" / "playground-screenshots"
SMALL = {"width": "256", "height": "256", "steps": "4"}
GENERATE_TIMEOUT_MS = 120_000
TRAIN_TIMEOUT_MS = 240_000


@pytest.fixture(scope="module", autouse=True)
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    print(f"\nplayground screenshots: {SHOTS}")
    return SHOTS


@pytest.fixture(scope="module")
def chromium() -> Iterator[Chromium]:
    c = Chromium()
    yield c
    c.close()


@pytest.fixture
def browser(chromium: Chromium) -> Iterator[Browser]:
    b = Browser(chromium)
    yield b
    b.close()
    # The page worked under its policy and never reached past loopback.
    assert b.outside == [], b.outside
    assert b.errors == [], b.errors
    assert [m for m in b.console if "Content Security Policy" in m] == []


def png(path: Path, size: tuple[int, int] = (256, 256), seed: int = 0) -> Path:
    """A gradient PNG (a picture with structure, so canny and depth have edges to find)."""
    w, h = size
    img = Image.new("RGB", size)
    img.putdata([((x * 255 // w + seed) % 256, y * 255 // h, (x + y + seed) % 256)
                 for y in range(h) for x in range(w)])
    img.save(path)
    return path


def open_playground(b: Browser, d: Deployment) -> Page:
    from playwright.sync_api import expect

    page = b.page
    page.goto(f"{d.node.url}/")
    page.wait_for_selector("body[data-ready='true']", state="attached", timeout=30_000)
    page.fill("#api-key", d.key)
    page.press("#api-key", "Tab")  # `change`: saved
    expect(page.locator("#key-state")).to_have_text("Key saved in this browser.")
    return page


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def generate(page: Page, endpoint: str, values: dict[str, str],
             files: dict[str, Path] | None = None, finetune: str | None = None
             ) -> dict[str, Any]:
    """Fills and submits the form; returns the request body the page sent."""
    page.select_option("#endpoint", endpoint)
    if finetune is not None:  # none is preselected
        page.select_option("#gen-finetune_id", finetune)
    for name, value in values.items():
        page.fill(f"#gen-{name}", value)
    for name, path in (files or {}).items():
        page.set_input_files(f"#gen-{name}", str(path))
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith(endpoint)) as sent:
        page.click("#generate-submit")
    body: dict[str, Any] = sent.value.post_data_json
    return body


def assert_image_shown(page: Page, d: Deployment, drawn_by: str = "dev model set"
                       ) -> tuple[int, int]:
    """The result <img> loaded, and it is the image the server delivers at the download link;
    the status names the model set that drew it."""
    from playwright.sync_api import expect

    expect(page.locator("#result-status")).to_contain_text("Ready:", timeout=GENERATE_TIMEOUT_MS)
    img = page.locator("#result-image")
    width, height = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    assert width > 0 and height > 0
    link = page.locator("#result-download")
    href = link.get_attribute("href")
    assert href == img.get_attribute("src")
    download = link.get_attribute("download") or ""
    assert re.fullmatch(r"fluxhost-[0-9a-f-]+\.(jpeg|png|webp)", download), download
    delivered = Image.open(io.BytesIO(d.client.get(href).content))
    assert delivered.size == (width, height)
    assert drawn_by in page.locator("#result-status").inner_text()
    return width, height


def test_banner_key_and_text_to_image(deployment: Deployment, browser: Browser) -> None:
    from playwright.sync_api import expect

    page = open_playground(browser, deployment)
    banner = page.locator("#dev-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("dev model set")
    expect(banner).to_contain_text("noise")
    expect(page.locator("#demo-banner")).to_be_hidden()
    # The first endpoint is plain text to image, and the prompt is the user's to write.
    expect(page.locator("#endpoint")).to_have_value("/v1/flux-dev")
    expect(page.locator("#gen-prompt")).to_have_value("")
    page.select_option("#endpoint", "/v1/flux-pro-finetuned")
    # The key is in this browser only, and the page says so; forgotten, it is gone.
    assert page.evaluate("() => Object.values(localStorage)") == [deployment.key]
    expect(page.locator("#key-box")).to_contain_text("sent only to this server")
    page.click("#key-forget")
    assert page.evaluate("() => localStorage.length") == 0
    expect(page.locator("#gen-finetune_id option").first).to_have_text(
        "Paste your key above to list your finetunes")
    page.fill("#api-key", deployment.key)
    page.press("#api-key", "Tab")
    # Defaults and bounds come from the schema; the key's finetune is offered, not chosen.
    assert page.locator("#gen-width").get_attribute("min") == "256"
    assert page.locator("#gen-width").get_attribute("step") == "32"
    expect(page.locator("#gen-guidance")).to_have_value("2.5")
    finetune = page.locator("#gen-finetune_id")
    expect(finetune.locator(f'option[value="{deployment.finetune_id}"]')).to_be_enabled()
    expect(finetune).to_have_value("")
    shot(page, "01-start-dev-banner")
    # Every endpoint of the schema is offered, and its form's ids clash with nothing on the page.
    paths = page.eval_on_selector_all("#endpoint option", "os => os.map(o => o.value)")
    assert len(paths) == len(catalog.ENDPOINTS)
    for path in paths:
        page.select_option("#endpoint", path)
        ids = page.eval_on_selector_all("[id]", "es => es.map(e => e.id)")
        assert len(ids) == len(set(ids)), path

    body = generate(page, "/v1/flux-pro-finetuned", {**SMALL, "prompt": "a lighthouse"},
                    finetune=deployment.finetune_id)
    assert body["finetune_id"] == deployment.finetune_id
    assert body["width"] == 256 and body["steps"] == 4 and body["guidance"] == 2.5
    assert assert_image_shown(page, deployment) == (256, 256)
    shot(page, "02-flux-pro-finetuned-result")

    body = generate(page, "/v1/flux-dev", {**SMALL, "prompt": "a harbour"})
    assert "finetune_id" not in body
    assert assert_image_shown(page, deployment) == (256, 256)
    shot(page, "03-flux-dev-result")


@pytest.fixture
def emoji_deployment(tmp_path: Path, dev_model_dir: Path) -> Iterator[Deployment]:
    """The server as `make serve` runs it (the emoji64 demo set), its key owning a finetune."""
    from fluxhost.engine.families.flux1.dev import make_dev_lora
    from fluxhost.engine.families.flux2.dev_loras import write_layout_lora
    from fluxhost.shipped import DEMO_ROOT

    n = Node(data_dir=tmp_path / "emoji", dev_model_dir=dev_model_dir,
             extra_env={"FLUXHOST_MODEL_SET": "emoji"})
    lora = make_dev_lora(DEMO_ROOT / "base", tmp_path / "emoji-lora.safetensors", seed=7)
    key, finetune_id = provision(n, lora, name="emoji")
    n.serve(workers=1)
    d = Deployment(n, key, finetune_id)
    # A LoRA for each klein base, as a user brings one: the klein -finetuned endpoints' own.
    for base in ("klein-4b", "klein-9b"):
        klein_lora = write_layout_lora(DEMO_ROOT / "klein", tmp_path / f"{base}.safetensors",
                                       "kohya", seed=3)
        r = d.client.post("/v1/fluxhost/finetunes/upload", params={"name": f"e-{base}",
                          "base": base}, content=klein_lora.read_bytes(),
                          headers={**d.headers, "content-type": "application/octet-stream"})
        assert r.status_code == 200, r.text
    yield d
    d.client.close()
    n.stop_all()


def test_first_screen_on_the_emoji_demo(emoji_deployment: Deployment, browser: Browser) -> None:
    from playwright.sync_api import expect

    d = emoji_deployment
    page = open_playground(browser, d)
    banner = page.locator("#demo-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("emoji64")
    expect(banner).to_contain_text("not FLUX")
    assert "noise" not in banner.inner_text()
    expect(page.locator("#dev-banner")).to_be_hidden()
    # Preselected: an endpoint this set serves, and an emoji's name as the prompt.
    endpoint = page.locator("#endpoint").input_value()
    assert endpoint in d.client.get("/ready").json()["endpoints"]
    prompt = page.locator("#gen-prompt").input_value()
    assert unicodedata.lookup(prompt)
    shot(page, "13-emoji-demo-first-screen")

    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith(endpoint)) as sent:
        page.click("#generate-submit")
    body = sent.value.post_data_json
    assert body["prompt"] == prompt and "finetune_id" not in body
    assert_image_shown(page, d, drawn_by="emoji64")
    assert "noise" not in page.locator("#result-status").inner_text()
    shot(page, "14-emoji-demo-result")

    # A finetuned endpoint offers the key's finetune and leaves the choice to the user.
    page.select_option("#endpoint", "/v1/flux-pro-finetuned")
    finetune = page.locator("#gen-finetune_id")
    expect(finetune.locator(f'option[value="{d.finetune_id}"]')).to_be_enabled()
    expect(finetune).to_have_value("")


# The emoji64 demo has no control-trained transformer: these (and only these) stay unserved.
DEMO_UNSERVED = {"/v1/flux-pro-1.0-canny", "/v1/flux-pro-1.0-depth",
                 "/v1/flux-pro-1.0-canny-finetuned", "/v1/flux-pro-1.0-depth-finetuned"}


def emoji_png(path: Path, size: tuple[int, int] = (256, 256)) -> Path:
    """A red disc on white, drawn like the demo's training images (an object on white)."""
    from PIL import ImageDraw

    img = Image.new("RGB", size, (255, 255, 255))
    w, h = size
    ImageDraw.Draw(img).ellipse((w // 5, h // 5, 4 * w // 5, 4 * h // 5), fill=(220, 30, 40))
    img.save(path)
    return path


def paint_stroke(page: Page) -> None:
    """One horizontal stroke across the middle of the fill mask (mouse coordinates are the
    viewport's)."""
    canvas = page.locator("#gen-mask-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=8)
    page.mouse.up()


def test_every_endpoint_draws_on_the_emoji_demo(emoji_deployment: Deployment, browser: Browser,
                                                tmp_path: Path) -> None:
    """What `make serve` offers, endpoint by endpoint as a newcomer would try them: each served
    one answers with a picture drawn by the demo (the FLUX.2 and Kontext ones editing an
    uploaded image), and the picker says why canny and depth are off."""
    d = emoji_deployment
    page = open_playground(browser, d)
    options = page.eval_on_selector_all(
        "#endpoint option", "os => os.map(o => [o.value, o.disabled, o.textContent])")
    unserved = {value: text for value, off, text in options if off}
    assert set(unserved) == DEMO_UNSERVED, unserved
    assert all("not served here" in text for text in unserved.values())
    picture = emoji_png(tmp_path / "disc.png")
    served = [value for value, off, _ in options if not off]
    assert len(served) == len(catalog.ENDPOINTS) - len(DEMO_UNSERVED)
    for path in served:
        record = catalog.get(path.removeprefix("/v1/"))
        page.select_option("#endpoint", path)
        page.fill("#gen-prompt", "make it blue" if record.reference_fields else "blue heart")
        for name in ("image", "control_image", "input_image"):
            if name in record.image_fields and page.locator(f"#gen-{name}").count():
                page.set_input_files(f"#gen-{name}", str(picture))
        if "mask" in record.image_fields:
            paint_stroke(page)
        if page.locator("#gen-steps").count():  # few, within the endpoint's range
            low = page.locator("#gen-steps").get_attribute("min") or "1"
            page.fill("#gen-steps", str(max(8, int(low))))
        if page.locator("#gen-finetune_id").count():
            page.select_option("#gen-finetune_id", index=1)
        with page.expect_request(lambda r, p=path: r.method == "POST" and r.url.endswith(p)):
            page.click("#generate-submit")
        status = page.locator("#result-status")
        status.filter(has_text=re.compile("Ready:|refused|Error")).wait_for(
            timeout=GENERATE_TIMEOUT_MS)
        errors = page.eval_on_selector_all(".field-error:not([hidden])",
                                           "es => es.map(e => e.textContent)")
        assert "Ready:" in status.inner_text(), (path, status.inner_text(), errors)
        assert_image_shown(page, d, drawn_by="emoji64")
    shot(page, "15-emoji-demo-every-endpoint")


def test_a_refusal_is_shown_next_to_its_field(deployment: Deployment, browser: Browser) -> None:
    from playwright.sync_api import expect

    page = open_playground(browser, deployment)
    generate(page, "/v1/flux-dev", {**SMALL, "width": "300"})
    error = page.locator('[data-field="width"] .field-error')
    expect(error).to_be_visible()
    expect(error).to_have_text("Input should be a multiple of 32")
    expect(page.locator("#gen-width")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#result-status")).to_contain_text("422")
    assert page.locator(".field-error:visible").count() == 1
    shot(page, "04-422-next-to-width")


def test_fill_with_uploaded_image_and_painted_mask(deployment: Deployment, browser: Browser,
                                                  tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = open_playground(browser, deployment)
    page.select_option("#endpoint", "/v1/flux-pro-1.0-fill")
    page.set_input_files("#gen-image", str(png(tmp_path / "photo.png")))
    canvas = page.locator("#gen-mask-canvas")
    expect(canvas).to_be_visible()
    expect(canvas).to_have_attribute("width", "256")
    paint_stroke(page)
    shot(page, "05-fill-mask-painted")

    body = generate(page, "/v1/flux-pro-1.0-fill", {"prompt": "a door", "steps": "15"})
    image = Image.open(io.BytesIO(base64.b64decode(body["image"])))
    assert image.size == (256, 256)
    mask = Image.open(io.BytesIO(base64.b64decode(body["mask"]))).convert("L")
    assert mask.size == image.size  # the server refuses a mask of another size
    assert mask.getpixel((128, 128)) == 255  # painted: regenerate
    assert mask.getpixel((64, 128)) == 255
    assert mask.getpixel((5, 5)) == 0 and mask.getpixel((128, 20)) == 0  # kept
    assert assert_image_shown(page, deployment) == (256, 256)
    shot(page, "06-fill-result")


def test_canny_finetuned_with_control_image(deployment: Deployment, browser: Browser,
                                            tmp_path: Path) -> None:
    page = open_playground(browser, deployment)
    body = generate(page, "/v1/flux-pro-1.0-canny-finetuned",
                    {"prompt": "a tower", "steps": "15"},
                    files={"control_image": png(tmp_path / "edges.png", seed=40)},
                    finetune=deployment.finetune_id)
    assert body["finetune_id"] == deployment.finetune_id
    assert Image.open(io.BytesIO(base64.b64decode(body["control_image"]))).size == (256, 256)
    assert_image_shown(page, deployment)
    shot(page, "07-canny-finetuned-result")


def test_kontext_with_input_image(deployment: Deployment, browser: Browser,
                                  tmp_path: Path) -> None:
    page = open_playground(browser, deployment)
    body = generate(page, "/v1/flux-kontext-pro", {"prompt": "make it night"},
                    files={"input_image": png(tmp_path / "day.png", seed=90)})
    assert base64.b64decode(body["input_image"]) == (tmp_path / "day.png").read_bytes()
    assert_image_shown(page, deployment)
    shot(page, "08-kontext-result")


def test_flux2_klein_with_two_references(deployment: Deployment, browser: Browser,
                                         tmp_path: Path) -> None:
    """FLUX.2 in the picker, its references as a list of pickers (added, removed, previewed,
    at most the endpoint's count), the size left to the model, steps and guidance on flex only;
    two references sent in order, the result shown at the first one's size."""
    from playwright.sync_api import expect

    page = open_playground(browser, deployment)
    flux2 = page.eval_on_selector_all(
        'optgroup[label^="FLUX.2"] option:not([disabled])', "os => os.map(o => o.value)")
    assert flux2 == [e.path for e in catalog.ENDPOINTS
                     if e.name.startswith("flux-2-") and not e.name.endswith("-finetuned")]
    page.select_option("#endpoint", "/v1/flux-2-klein-4b")
    refs = page.locator('[data-field="input_image"]')
    expect(refs).to_contain_text("Reference images")
    expect(refs).to_contain_text("up to 4")
    expect(refs).to_contain_text("dev model set they change the noise")  # said plainly
    assert page.locator("#gen-input_image_2").count() == 0  # one picker to start with
    for field in ("steps", "guidance"):  # klein runs its model's own
        assert page.locator(f"#gen-{field}").count() == 0
    for side in ("width", "height"):
        expect(page.locator(f"#gen-{side}")).to_have_value("")
        expect(page.locator(f"#gen-{side}")).to_have_attribute("placeholder", "model picks")

    first = png(tmp_path / "wide.png", size=(192, 128), seed=10)
    second = png(tmp_path / "square.png", size=(64, 64), seed=60)
    page.set_input_files("#gen-input_image", str(first))
    add = page.locator("#gen-references-add")
    for n in (2, 3, 4):
        add.click()
        expect(page.locator(f"#gen-input_image_{n}")).to_be_attached()
    expect(add).to_be_disabled()  # klein takes four
    page.set_input_files("#gen-input_image_3", str(second))
    # The second and fourth go; the third moves up to be input_image_2.
    page.locator('li[data-ref="input_image_4"] .ref-remove').click()
    page.locator('li[data-ref="input_image_2"] .ref-remove').click()
    expect(add).to_be_enabled()
    assert page.locator("#gen-input_image_3").count() == 0
    expect(page.locator("#gen-references-count")).to_have_text("2 of at most 4 picked")
    previews = page.locator('[data-field="input_image"] img.thumb:visible')
    expect(previews).to_have_count(2)
    sizes = previews.evaluate_all("is => is.map(i => [i.naturalWidth, i.naturalHeight])")
    assert sizes == [[192, 128], [64, 64]]
    shot(page, "15-flux2-klein-references")

    body = generate(page, "/v1/flux-2-klein-4b", {"prompt": "the two pictures together"})
    assert base64.b64decode(body["input_image"]) == first.read_bytes()
    assert base64.b64decode(body["input_image_2"]) == second.read_bytes()
    assert not {"width", "height", "steps", "guidance", "input_image_3"} & set(body)
    assert assert_image_shown(page, deployment) == (192, 128)  # the first reference's size
    shot(page, "16-flux2-klein-result")

    # A reference the model cannot take: the 422 is shown under the list, naming the field.
    page.set_input_files("#gen-input_image_2", str(png(tmp_path / "thin.png", size=(64, 600))))
    generate(page, "/v1/flux-2-klein-4b", {"prompt": "p"})
    error = refs.locator(".field-error")
    expect(error).to_contain_text("input_image_2: Value error, the reference image is 64x600")
    expect(page.locator("#result-status")).to_contain_text("422")

    # flex: eight references, its own steps and guidance; the size still the model's.
    page.select_option("#endpoint", "/v1/flux-2-flex")
    expect(page.locator('[data-field="input_image"]')).to_contain_text("up to 8")
    for _ in range(7):
        page.click("#gen-references-add")
    expect(page.locator("#gen-input_image_8")).to_be_attached()
    expect(page.locator("#gen-references-add")).to_be_disabled()
    expect(page.locator("#gen-steps")).to_have_value("50")
    expect(page.locator("#gen-guidance")).to_have_value("5")
    expect(page.locator("#gen-width")).to_have_value("")
    page.select_option("#endpoint", "/v1/flux-2-pro")
    assert page.locator("#gen-steps").count() == 0


def dataset_zip(path: Path, images: int = 3) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(images):
            zf.write(png(path.parent / f"img{i}.png", size=(64, 64), seed=i * 30), f"img{i}.png")
    return path


def test_finetune_zip_upload_train_list_delete(deployment: Deployment, browser: Browser,
                                               tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page = open_playground(browser, deployment)
    page.select_option("#endpoint", "/v1/flux-pro-finetuned")  # its finetune select, below
    page.click("#tab-finetunes")
    expect(page.locator("#panel-finetunes")).to_be_visible()
    expect(page.locator(f'tr[data-finetune="{deployment.finetune_id}"]')).to_be_visible()
    page.set_input_files("#ft-file_data", str(dataset_zip(tmp_path / "set.zip")))
    page.fill("#ft-finetune_comment", "playground zip")
    page.fill("#ft-trigger_word", "PGZ")
    page.select_option("#ft-mode", label="style")
    page.fill("#ft-iterations", "100")
    page.select_option("#ft-finetune_type", label="lora")
    with page.expect_request(lambda r: r.url.endswith("/v1/finetune")) as sent:
        page.click("#finetune-submit")
    body = sent.value.post_data_json
    assert body["mode"] == "style" and body["iterations"] == 100 and body["lora_rank"] == 32
    expect(page.locator("#finetune-status")).to_contain_text("Uploaded")
    found = re.search(r"finetune ([0-9a-f-]{36})", page.locator("#finetune-status").inner_text())
    assert found
    ft_id = found[1]
    row = page.locator(f'tr[data-finetune="{ft_id}"]')
    expect(row).to_contain_text("playground zip")
    expect(row).to_contain_text("PGZ")
    # Watched from the list: queued, then training with its progress (if a poll lands in it).
    expect(row.locator(".training")).to_contain_text(re.compile("Queued|Training|Ready"))
    shot(page, "09-finetune-uploaded-training")

    expect(row.locator(".training")).to_have_text("Ready", timeout=TRAIN_TIMEOUT_MS)
    # The page watched the training through get_result, as a client does.
    assert any(f"get_result?id={ft_id}" in u for u in browser.requests)
    row.locator("summary").click()
    expect(row.locator("pre")).to_contain_text('"iterations": 100')
    # Now usable for generation: offered (enabled) on the Generate tab.
    option = page.locator(f'#gen-finetune_id option[value="{ft_id}"]')
    expect(option).to_be_enabled()
    shot(page, "10-finetune-ready-listed")

    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button", has_text="Delete").click()
    expect(row).to_have_count(0)
    expect(page.locator("#finetune-status")).to_contain_text(f"Deleted finetune {ft_id}")
    expect(option).to_have_count(0)
    listed = deployment.client.get("/v1/my_finetunes", headers=deployment.headers).json()
    assert ft_id not in listed["finetunes"]
    shot(page, "11-finetune-deleted")


def test_folder_upload_is_zipped_in_the_browser(deployment: Deployment, browser: Browser,
                                                tmp_path: Path) -> None:
    from playwright.sync_api import expect

    folder = tmp_path / "dataset"
    (folder / "sub").mkdir(parents=True)
    files = {"a.png": png(folder / "a.png", (48, 48), 1).read_bytes(),
             "b.jpg": b"", "sub/c.webp": b""}
    Image.open(folder / "a.png").convert("RGB").save(folder / "b.jpg", quality=90)
    Image.open(folder / "a.png").save(folder / "sub" / "c.webp")
    files["b.jpg"] = (folder / "b.jpg").read_bytes()
    files["sub/c.webp"] = (folder / "sub" / "c.webp").read_bytes()
    files["a.txt"] = "a photo of TOK, ünïcödé".encode()
    (folder / "a.txt").write_bytes(files["a.txt"])
    (folder / ".DS_Store").write_bytes(b"\0" * 64)  # skipped, as the server would
    (folder / "notes.md").write_text("not part of the dataset")

    page = open_playground(browser, deployment)
    page.click("#tab-finetunes")
    page.set_input_files("#ft-file_data-folder", str(folder))
    expect(page.locator(".dataset .hint")).to_contain_text("Folder: 4 files")
    page.fill("#ft-finetune_comment", "playground folder")
    page.fill("#ft-iterations", "100")
    with page.expect_request(lambda r: r.url.endswith("/v1/finetune")) as sent:
        page.click("#finetune-submit")
    expect(page.locator("#finetune-status")).to_contain_text("Uploaded")
    shot(page, "12-folder-uploaded")

    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(sent.value.post_data_json["file_data"])))
    assert archive.testzip() is None  # every member's CRC-32 checks
    assert sorted(archive.namelist()) == sorted(files)
    for info in archive.infolist():
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.flag_bits & 0x800  # UTF-8 names
        assert archive.read(info) == files[info.filename]
    found = re.search(r"finetune ([0-9a-f-]{36})", page.locator("#finetune-status").inner_text())
    assert found
    details = deployment.client.get("/v1/finetune_details", params={"finetune_id": found[1]},
                                    headers=deployment.headers).json()["finetune_details"]
    assert details["images"] == 3  # the server read the browser's ZIP: three images
    deployment.client.post("/v1/delete_finetune", json={"finetune_id": found[1]},
                           headers=deployment.headers).raise_for_status()


def test_zip_writer_output_is_a_valid_zip(deployment: Deployment, browser: Browser) -> None:
    page = open_playground(browser, deployment)
    written = page.evaluate("""async () => {
        const { zipStore, crc32 } = await import(new URL("playground/zip.js", document.baseURI));
        const big = new Uint8Array(300000).map((_, i) => (i * 7919) % 251);
        const zip = zipStore([
            { name: "empty.txt", data: new Uint8Array(0) },
            { name: "dir/naïve ß.bin", data: big, date: new Date(2024, 1, 29, 13, 45, 58) },
            { name: "a.txt", data: new TextEncoder().encode("hello") },
        ]);
        const refused = [];
        for (const name of ["../up.png", "/abs.png", "a\\\\b.png", ""]) {
            try { zipStore([{ name, data: new Uint8Array(1) }]); } catch (e) { refused.push(name); }
        }
        let text = "";
        for (const b of zip) text += String.fromCharCode(b);
        return { zip: btoa(text), crc: crc32(new TextEncoder().encode("123456789")), refused };
    }""")
    assert written["crc"] == 0xCBF43926  # CRC-32's check value
    assert written["refused"] == ["../up.png", "/abs.png", "a\\b.png", ""]
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(written["zip"])))
    assert archive.testzip() is None
    assert archive.namelist() == ["empty.txt", "dir/naïve ß.bin", "a.txt"]
    assert archive.read("empty.txt") == b""
    assert archive.read("a.txt") == b"hello"
    assert archive.read("dir/naïve ß.bin") == bytes((i * 7919) % 251 for i in range(300000))
    assert archive.getinfo("dir/naïve ß.bin").date_time == (2024, 2, 29, 13, 45, 58)


def test_klein_lora_upload_list_generate_delete(deployment: Deployment, browser: Browser,
                                                tmp_path: Path, dev_model_dir: Path) -> None:
    """Bring a LoRA: the bases this server serves, the name rule hinted, a file that is not
    safetensors and a taken name refused with the server's words next to the form; a kohya
    LoRA sent as the raw body, listed by its name beside the FLUX.1 finetune, offered on
    flux-2-klein-4b-finetuned only, generated with, deleted."""
    from playwright.sync_api import expect

    from fluxhost.engine.families.flux2.dev_loras import write_layout_lora

    lora = write_layout_lora(dev_model_dir / "klein-4b", tmp_path / "pg.safetensors", "kohya",
                             seed=11)
    page = open_playground(browser, deployment)
    page.click("#tab-finetunes")
    bases = page.eval_on_selector_all("#lora-base option:not([disabled])",
                                      "os => os.map(o => o.value)")
    assert bases == ["klein-4b", "klein-9b"]  # the dev set serves both
    expect(page.locator("#lora-base")).to_have_value("klein-4b")
    page.fill("#lora-name", "Not OK")
    expect(page.locator("#lora-name-hint")).to_contain_text("The server will refuse this name")
    page.fill("#lora-name", "pg-style")
    expect(page.locator("#lora-name-hint")).not_to_contain_text("refuse")

    bad = tmp_path / "notes.safetensors"
    bad.write_text("these are notes, not a LoRA")
    page.set_input_files("#lora-file", str(bad))
    page.click("#lora-submit")
    status = page.locator("#lora-status")
    expect(status).to_contain_text("The server refused the LoRA: 422: LoRA refused for klein-4b: "
                                   "not a safetensors file")
    expect(page.locator("#lora-file-error")).to_contain_text("not a safetensors file")
    shot(page, "17-lora-refused")

    page.set_input_files("#lora-file", str(lora))
    page.fill("#lora-trigger_word", "in pg style")
    page.fill("#lora-comment", "playground lora")
    with page.expect_request(lambda r: "/v1/fluxhost/finetunes/upload?" in r.url) as sent:
        page.click("#lora-submit")
    req = sent.value
    assert req.headers["content-type"] == "application/octet-stream"
    assert req.post_data_buffer == lora.read_bytes()
    assert "x-key" in req.headers and "cookie" not in req.headers
    query = dict(parse_qsl(urlsplit(req.url).query))
    assert query == {"name": "pg-style", "base": "klein-4b", "trigger_word": "in pg style",
                     "comment": "playground lora"}
    expect(status).to_contain_text("Uploaded: pg-style (kohya keys", timeout=GENERATE_TIMEOUT_MS)
    expect(status).to_contain_text("/v1/flux-2-klein-4b-finetuned")
    expect(page.locator("#lora-file-error")).to_be_hidden()
    row = page.locator('tr[data-finetune="pg-style"]')
    for text in ("playground lora", "in pg style", "FLUX.2 [klein-4b]", "Ready"):
        expect(row).to_contain_text(text)
    expect(page.locator(f'tr[data-finetune="{deployment.finetune_id}"]')).to_contain_text("FLUX.1")
    shot(page, "18-lora-listed")

    page.set_input_files("#lora-file", str(lora))  # the same name again: 409, under the name
    page.fill("#lora-name", "pg-style")
    page.click("#lora-submit")
    expect(status).to_contain_text("409: this key already has a finetune named 'pg-style'")
    expect(page.locator("#lora-name-error")).to_contain_text("already has a finetune")

    page.click("#tab-generate")
    page.select_option("#endpoint", "/v1/flux-2-klein-9b-finetuned")  # not its base
    expect(page.locator("#gen-finetune_id option")).to_have_text(
        ["No FLUX.2 [klein-9b] LoRA yet: bring one on the Finetunes tab"])
    page.select_option("#endpoint", "/v1/flux-pro-finetuned")  # FLUX.1: not offered either
    expect(page.locator('#gen-finetune_id option[value="pg-style"]')).to_have_count(0)
    page.select_option("#endpoint", "/v1/flux-2-klein-4b-finetuned")
    select = page.locator("#gen-finetune_id")
    expect(select.locator('option[value="pg-style"]')).to_have_text("pg-style (in pg style)")
    expect(select.locator(f'option[value="{deployment.finetune_id}"]')).to_have_count(0)
    expect(select).to_have_value("")  # offered, not chosen
    expect(page.locator("#gen-finetune_strength")).to_have_value("1")
    body = generate(page, "/v1/flux-2-klein-4b-finetuned",
                    {"prompt": "a lighthouse in pg style", "width": "64", "height": "64"},
                    finetune="pg-style")
    assert body["finetune_id"] == "pg-style" and body["finetune_strength"] == 1
    assert assert_image_shown(page, deployment) == (64, 64)
    shot(page, "19-lora-generated")

    page.click("#tab-finetunes")
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button", has_text="Delete").click()
    expect(row).to_have_count(0)
    expect(page.locator("#finetune-status")).to_contain_text("Deleted finetune pg-style")
    listed = deployment.client.get("/v1/my_finetunes", headers=deployment.headers).json()
    assert "pg-style" not in listed["finetunes"]
