"""fluxhost.training.emoji2: the second-generation demo's recipe on a handful of emoji.

One module-scoped work directory: 16 emoji rendered from Noto Color Emoji (skipped where the font
is not installed), the data, encoders and VAE stages, 3 transformer steps at batch 4, a resume
to step 5, and one text and one edit call through the unchanged Flux2KleinPipeline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fluxhost.training.emoji import common, dataset
from fluxhost.training.emoji2 import colours, data

CHARS = "🍎🍏💙💚❤📗📘📙🚀🔥🎈🐟🌵🍋🍇🚗"


def write_dataset(work: Path) -> None:
    from PIL import ImageFont

    if not dataset.FONT_PATH.is_file():
        pytest.skip(f"{dataset.FONT_PATH} missing (apt-get install {dataset.FONT_PACKAGE})")
    font = ImageFont.truetype(str(dataset.FONT_PATH), dataset.STRIKE_SIZE)
    images = [np.asarray(dataset._render(font, c), dtype=np.uint8) for c in CHARS]
    out = work / "dataset"
    out.mkdir(parents=True)
    np.save(out / "images.npy", np.stack(images))
    entries = [{"codepoint": f"U+{ord(c):04X}", "caption": dataset.caption_of(c),
                "split": "train"} for c in CHARS]
    (out / "meta.json").write_text(json.dumps({"entries": entries}))


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fluxhost.training.emoji2 import transformer

    root = tmp_path_factory.mktemp("emoji2")
    write_dataset(root)
    common.setup_torch(1)
    transformer.train(root, common.Budget(steps=3), batch=4)
    return root


def test_recolour_makes_the_colour_dominant() -> None:
    image = np.full((8, 8, 3), 255, dtype=np.uint8)
    image[2:6, 2:6] = (200, 30, 30)
    for name in colours.COLOURS:
        colour, share, _ = colours.dominant(colours.recolour(image, name))
        assert (colour, share) == (name, 1.0)
    assert (colours.recolour(image, "blue")[0, 0] == 255).all()  # white stays white


def test_captions_and_the_heldout_rule() -> None:
    assert data.object_name("large blue circle") == "large circle"
    assert data.compose("large blue circle", "red") == "large red circle"
    assert data.compose("rocket", "green") == "green rocket"
    rows = [[data.compose("apple", c) for c in data.COLOUR_NAMES]]
    held = data.heldout_rule(rows)
    assert held[0, data.COLOUR_NAMES.index("blue")]  # named by the issue
    assert (~held).sum() >= data.MIN_TRAIN_COLOURS
    assert data.side_by_side(np.zeros((64, 64, 3), np.uint8),
                             np.zeros((64, 64, 3), np.uint8))[0, 0].tolist() == [255, 255, 255]


def test_data_stage_builds_objects_and_holds_out(work: Path) -> None:
    d = data.load(work)
    assert "apple" in d.objects and "book" in d.objects
    apple = d.objects.index("apple")
    assert d.captions[apple][data.COLOUR_NAMES.index("blue")] == "blue apple"
    assert d.heldout[apple, data.COLOUR_NAMES.index("blue")]
    blue, share, _ = colours.dominant(d.bank[apple, data.COLOUR_NAMES.index("blue")])
    assert blue == "blue" and share > 0.9
    held = {c for row, h in zip(d.captions, d.heldout, strict=True)
            for c, x in zip(row, h, strict=True) if x}
    assert not held & {caption for _, caption in d.natives}


def test_sampler_never_draws_a_heldout_combination(work: Path) -> None:
    import torch

    from fluxhost.training.emoji2 import transformer, vae

    d = data.load(work)
    text = torch.load(work / "encoders" / "embeds.pt", weights_only=False)
    sampler = transformer.Sampler(d, vae.build(work, d)[1], text["prompts"], None)
    gen = torch.Generator().manual_seed(0)
    assert all(not d.heldout[o, c] for o, c in (sampler.combo(gen) for _ in range(200)))
    x0, ref, rows, _, coupled = sampler.task("recolour", 3, gen)
    assert not bool(coupled.any())
    assert x0.shape == (3, 16, 64) and ref is not None and ref.shape == (3, 16, 64)
    assert all(r == 0 or text["prompts"][r].startswith("make it ") for r in rows)


def test_coupling_gives_every_answer_an_equal_share_of_the_noise() -> None:
    import torch

    from fluxhost.training.emoji2 import coupling

    gen = torch.Generator().manual_seed(0)
    base = torch.randn(1, 256, generator=gen)
    # correlated axes, as the colour words' are (orange lies between red and yellow)
    axes = torch.cat([base * w + torch.randn(1, 256, generator=gen) for w in (0, 1, 2, 3)])
    axes = axes / axes.norm(dim=1, keepdim=True)
    assert float(coupling.masses(axes, torch.zeros(4)).max()) > 0.33  # unequal without psi
    psi = coupling.potentials(axes)
    assert torch.allclose(coupling.masses(axes, psi, seed=1), torch.full((4,), 0.25), atol=0.04)
    noise = axes[2] * 10 + torch.randn(256, generator=gen) * 0.1
    assert coupling.choose(noise, axes, psi) == 2  # noise along an axis trains its answer


def test_colour_axes_point_from_the_average_look_to_the_colour() -> None:
    import torch

    from fluxhost.training.emoji2 import coupling

    gen = torch.Generator().manual_seed(0)
    looks = torch.randn(5, 1, 8, generator=gen)  # 5 objects
    shifts = torch.eye(8)[:3].view(1, 3, 8) * 4  # colour c moves every object along e_c
    bank = looks + shifts
    heldout = np.zeros((5, 3), dtype=bool)
    heldout[0, 1] = True
    axes = coupling.colour_axes(bank, heldout)
    assert axes.shape == (3, 8)
    assert [int(a.argmax()) for a in axes] == [0, 1, 2]
    assert torch.allclose(axes.norm(dim=1), torch.ones(3))


def test_phase_two_couples_a_bare_name_to_its_noise(work: Path) -> None:
    import torch

    from fluxhost.training.emoji2 import coupling, transformer, vae

    d = data.load(work)
    text = torch.load(work / "encoders" / "embeds.pt", weights_only=False)
    sampler = transformer.Sampler(d, vae.build(work, d)[1], text["prompts"], None)
    gen = torch.Generator().manual_seed(3)
    assert sampler.task("t2i_bank", 8, gen)[3] is None  # phase 1: noise drawn by the step
    sampler.tuning = True
    x0, _, rows, noise, coupled = sampler.task("t2i_bank", 32, gen)
    assert noise is not None and noise.shape == x0.shape
    bank = sampler.latents["bank"]
    bare = [(i, text["prompts"][row]) for i, row in enumerate(rows)
            if text["prompts"][row] in d.objects]  # not composed, not dropped ("")
    assert len(bare) >= 8
    assert [i for i, _ in bare] == [i for i in range(32) if coupled[i]]
    for i, name in bare:
        o = d.objects.index(name)
        answers = tuple(c for c in range(len(data.COLOUR_NAMES)) if not d.heldout[o, c])
        axes = sampler.axes[list(answers)]
        chosen = answers[coupling.choose(noise[i].flatten(), axes, sampler.psi[answers])]
        assert torch.equal(x0[i], bank[o, chosen])


def test_coupled_rows_train_more_often_where_the_colour_is_chosen() -> None:
    import torch

    from fluxhost.training.emoji2 import transformer

    gen = torch.Generator().manual_seed(0)
    sigma = torch.full((4000,), 0.1)
    coupled = torch.arange(4000) % 2 == 0
    out = transformer.high_sigmas(sigma, coupled, gen)
    assert torch.equal(out[~coupled], sigma[~coupled])  # other rows keep the step's sigma
    low, high = transformer.TUNE_HIGH_SIGMA
    moved = out[coupled] != 0.1
    assert bool(((out[coupled][moved] >= low) & (out[coupled][moved] <= high)).all())
    assert abs(float(moved.float().mean()) - transformer.TUNE_P_HIGH) < 0.05


def test_training_checkpoints_and_resumes(work: Path) -> None:
    from fluxhost.training.emoji2 import transformer

    state = common.require_checkpoint(work, "transformer")
    assert state["step"] == 3
    transformer.train(work, common.Budget(steps=5), batch=4)
    after = common.require_checkpoint(work, "transformer")
    assert after["step"] == 5
    moved = [bool((after["model"][k] != state["model"][k]).any()) for k in state["model"]]
    assert any(moved)


def test_decoder_stage_trains_the_decoder_only_and_the_pipeline_uses_it(work: Path) -> None:
    import torch

    from fluxhost.training.emoji2 import decoder, transformer

    before = decoder.load_vae(work)
    packed, images = decoder.training_set(work)
    d = data.load(work)
    assert len(images) == int((~d.heldout).sum()) + len(d.natives)  # nothing held out
    # The packed latents the transformer learns decode as the pipeline decodes them.
    with torch.no_grad():
        recon = before.decode(decoder.decoder_input(before, packed[:2])).sample
    assert recon.shape == (2, 3, 64, 64)
    decoder.train(work, common.Budget(steps=2), batch=2)
    decoder.train(work, common.Budget(steps=3), batch=2)  # resumes
    assert common.require_checkpoint(work, "decoder")["step"] == 3
    after = decoder.load_vae(work)
    changed = {k for k, v in after.state_dict().items()
               if not torch.equal(v, before.state_dict()[k])}
    assert changed and all(k.startswith("decoder.") for k in changed)
    pipe: Any = transformer.pipeline(work)
    assert all(torch.equal(v, after.state_dict()[k]) for k, v in pipe.vae.state_dict().items())
    assert 0.0 <= decoder.colour_kept(after, decoder.decoder_input(after, packed), images,
                                      n=4) <= 1.0


def test_unchanged_klein_pipeline_draws_text_and_edits(work: Path) -> None:
    import torch
    from PIL import Image

    from fluxhost.training.emoji2 import encoders, transformer

    pipe: Any = transformer.pipeline(work)
    assert type(pipe).__name__ == "Flux2KleinPipeline"  # the class itself, not a subclass
    d = data.load(work)
    ref = Image.fromarray(d.bank[d.objects.index("apple"), 0])
    run = {"height": 64, "width": 64, "num_inference_steps": 2, "guidance_scale": 2.0,
           "max_sequence_length": encoders.TEXT_TOKENS}
    text = pipe(prompt="blue apple", generator=torch.Generator().manual_seed(0), **run)
    edit = pipe(prompt="make it blue", image=[ref, ref],
                generator=torch.Generator().manual_seed(0), **run)
    a, b = (np.asarray(r.images[0]) for r in (text, edit))
    assert a.shape == b.shape == (64, 64, 3)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 0  # the references reach the model


def test_bench_measures_run_on_a_checkpoint(work: Path) -> None:
    """The measures' plumbing (their bounds need trained weights: docs/emoji64.md)."""
    from fluxhost.training.emoji2 import bench, transformer

    pipe: Any = transformer.pipeline(work)
    pipe.set_progress_bar_config(disable=True)
    d = data.load(work)
    evaluation = bench.EvalSet.from_data(d)
    assert len(evaluation.pairs) == int(d.heldout.sum()) == len(evaluation.sources)
    s = bench.Settings(steps=2, limit=2)
    found = bench.adherence(pipe, evaluation, s)
    assert set(found) == {"heldout", "shuffled", "noise"}
    assert all(1 <= v["median_rank"] <= d.bank.shape[0] * d.bank.shape[1]
               for v in found.values())
    assert 0.0 <= bench.edits(pipe, evaluation, s)["success"] <= 1.0
    spread = bench.diversity(pipe, ["apple", "red apple"], s, seeds=2)
    assert spread["between_seeds"] > 0 and spread["between_prompts"] > 0
    assert 0.0 <= spread["visible"] <= 1.0 and 0.0 <= spread["several_colours"] <= 1.0
    assert spread["median_between_seeds"] > 0


def test_bare_names_are_the_held_out_objects_spread_evenly() -> None:
    from fluxhost.training.emoji2 import bench

    pairs = [(0, 4), (0, 1), (1, 0), (2, 5), (3, 2)]
    captions = ["blue apple", "orange apple", "red beating heart", "beating purple heart",
                "yellow x ray"]
    evaluation = bench.EvalSet(np.zeros((0, 768), np.uint8), 7, pairs, captions,
                               np.zeros((5, 64, 64, 3), np.uint8))
    # the colour word goes wherever data.compose put it; a name seen twice counts once
    assert bench.bare_names(evaluation, 3) == ["apple", "beating heart", "x ray"]
    assert bench.bare_names(evaluation, 1) == ["apple"]
    with pytest.raises(ValueError, match="asked for 4 bare names"):
        bench.bare_names(evaluation, 4)


def test_export_loads_offline_as_a_klein_folder(work: Path, tmp_path: Path) -> None:
    import torch
    from diffusers import Flux2KleinPipeline

    from fluxhost.training.emoji2 import bench, encoders, export

    folder = export.export(work, tmp_path)
    manifest = json.loads((tmp_path / export.MANIFEST).read_text())
    step = common.require_checkpoint(work, "transformer")["step"]
    assert manifest["kinds"] == ["klein"] and manifest["klein_transformer_step"] == step
    assert manifest["flux2_max_sequence_length"] == encoders.TEXT_TOKENS
    card = (tmp_path / export.CARD).read_text()
    assert "not FLUX.2" in card and f"trained\n{step:,} steps" in card
    export.update_card(tmp_path, step + 1, 1, 0)  # replaced, not appended
    assert (tmp_path / export.CARD).read_text().count(export.CARD_MARK) == 1
    assert not any('"_name_or_path"' in c.read_text() for c in folder.rglob("config.json"))
    saved = bench.EvalSet.load(tmp_path / bench.EVAL_FILE)
    assert saved.captions == bench.EvalSet.from_data(data.load(work)).captions
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "Flux2KleinPipeline" and index["is_distilled"] is False
    pipe: Any = Flux2KleinPipeline.from_pretrained(folder, dtype=torch.float32,
                                                   local_files_only=True)
    assert pipe.transformer.dtype == torch.float32
    image = pipe(prompt="red apple", height=64, width=64, num_inference_steps=2,
                 max_sequence_length=encoders.TEXT_TOKENS).images[0]
    assert image.size == (64, 64)


def test_init_continues_training_from_an_exported_set(work: Path, tmp_path: Path) -> None:
    """A fresh work directory (the stages before the transformer rebuilt, here linked) continues
    from the exported weights and step, with the exported decoder."""
    import torch

    from fluxhost.training.emoji2 import decoder, export, init, transformer

    shipped = tmp_path / "set"
    export.export(work, shipped)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for stage in ("dataset", "data", "encoders", "vae"):
        (fresh / stage).symlink_to(work / stage)
    step = init.init(fresh, shipped)
    assert step == common.require_checkpoint(work, "transformer")["step"]
    with pytest.raises(FileExistsError):
        init.init(fresh, shipped)  # never over a run
    started = common.require_checkpoint(fresh, "transformer")
    ema = common.require_checkpoint(work, "transformer")["ema"]
    for name, value in started["model"].items():  # the exported EMA, through float16
        assert value.dtype == torch.float32
        assert torch.allclose(value, ema[name], atol=1e-2, rtol=1e-2)
    decoder_step = int((common.load_checkpoint(work / "decoder") or {}).get("step", 0))
    assert json.loads((shipped / export.MANIFEST).read_text())["klein_decoder_step"] == (
        decoder_step)
    assert common.require_checkpoint(fresh, "decoder")["step"] == decoder_step
    vae_fresh, vae_work = decoder.load_vae(fresh), decoder.load_vae(work)
    assert all(torch.allclose(v, vae_work.state_dict()[k], atol=1e-2)
               for k, v in vae_fresh.state_dict().items())
    transformer.train(fresh, common.Budget(steps=step + 1), batch=4)
    assert common.require_checkpoint(fresh, "transformer")["step"] == step + 1
