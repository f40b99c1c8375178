"""A deterministic, dependency-free upsampler: the prompt followed by curated visual details.

It needs no model or network, so it is the default when no LLM endpoint is configured. Details
are drawn with a RNG seeded by (seed, prompt), so the same request always yields the same prompt
and a retried or replayed task renders the same image."""

from __future__ import annotations

import random

LIGHTING: tuple[str, ...] = (
    "soft golden-hour light",
    "diffused overcast light",
    "warm candlelight glow",
    "crisp morning sunlight",
    "gentle rim lighting",
    "dramatic chiaroscuro lighting",
    "soft window light",
    "cool blue-hour light",
    "dappled sunlight through leaves",
    "low-key studio lighting",
    "bright high-key lighting",
    "warm backlight with a soft halo",
    "moonlit ambient light",
    "even softbox lighting",
    "light filtering through mist",
    "late-afternoon side light",
    "glowing lantern light",
    "subtle volumetric light rays",
    "neon reflections on wet surfaces",
    "soft bounce light from below",
    "clear midday light with crisp shadows",
    "flickering firelight",
    "cinematic three-point lighting",
    "pale winter sunlight",
    "warm tungsten interior light",
    "starlight and faint twilight",
    "sunbeams breaking through clouds",
    "soft north-facing daylight",
    "gentle ambient occlusion shadows",
    "luminous sunset glow",
)

COMPOSITION: tuple[str, ...] = (
    "wide-angle composition",
    "centered symmetrical composition",
    "rule-of-thirds framing",
    "low-angle perspective",
    "high-angle view",
    "bird's-eye view",
    "close-up with shallow depth of field",
    "medium shot at eye level",
    "sweeping panoramic view",
    "35mm lens perspective",
    "85mm portrait lens with creamy bokeh",
    "macro detail shot",
    "leading lines drawing the eye inward",
    "layered foreground and background depth",
    "negative space around the subject",
    "tight cinematic crop",
    "isometric view",
    "three-quarter view",
    "framed by natural elements in the foreground",
    "long-exposure photograph",
    "tilt-shift miniature effect",
    "establishing shot with a distant horizon",
    "dynamic diagonal composition",
    "softly blurred background",
    "telephoto compression",
    "over-the-shoulder viewpoint",
    "balanced asymmetrical layout",
    "golden-ratio composition",
    "straight-on frontal view",
    "deep focus with sharp detail throughout",
)

STYLE: tuple[str, ...] = (
    "oil painting texture",
    "watercolor illustration",
    "photorealistic rendering",
    "35mm film photograph",
    "digital matte painting",
    "gouache painting",
    "ink and wash drawing",
    "charcoal sketch",
    "studio product photography",
    "editorial photography",
    "impressionist brushwork",
    "art nouveau poster style",
    "ukiyo-e woodblock print style",
    "soft pastel drawing",
    "cinematic film still",
    "detailed concept art",
    "storybook illustration",
    "vintage travel poster style",
    "claymation style",
    "low-poly 3D render",
    "isometric pixel art",
    "stained glass style",
    "minimalist flat illustration",
    "papercut collage",
    "medium format photograph",
    "hand-painted gouache animation background",
    "architectural visualization",
    "nature documentary photograph",
    "fine art photograph",
    "colored pencil illustration",
    "linocut print",
    "soft 3D render with subsurface scattering",
)

ATMOSPHERE: tuple[str, ...] = (
    "muted teal and amber palette",
    "warm earthy tones",
    "pastel color palette",
    "rich jewel tones",
    "monochrome with a single accent color",
    "cool blues and silvers",
    "vibrant saturated colors",
    "soft desaturated tones",
    "sepia-tinged nostalgic mood",
    "serene and tranquil atmosphere",
    "whimsical and playful mood",
    "quiet contemplative mood",
    "misty and dreamlike atmosphere",
    "cozy and inviting atmosphere",
    "crisp and clean color grading",
    "deep greens and golds",
    "sunset oranges and violets",
    "gentle light haze",
    "moody and atmospheric",
    "bright and cheerful tones",
    "soft morning fog",
    "complementary orange and blue tones",
    "subdued autumn palette",
    "icy winter palette",
    "lush spring greens",
    "warm and nostalgic color grading",
    "calm and airy atmosphere",
    "rich shadows and glowing highlights",
    "harmonious analogous colors",
    "ethereal and luminous mood",
)

DETAIL: tuple[str, ...] = (
    "highly detailed",
    "intricate textures",
    "sharp focus",
    "fine surface detail",
    "crisp and clean lines",
    "rich tactile detail",
    "subtle film grain",
    "meticulous craftsmanship",
    "realistic materials and reflections",
    "delicate brushstrokes",
    "high resolution",
    "carefully balanced detail",
    "natural skin and fabric textures",
    "clear and well-defined forms",
    "elegant and refined finish",
    "nuanced tonal gradations",
    "gallery-quality finish",
    "photographic clarity",
    "soft gradients and smooth shading",
    "ultra-fine detail in the background",
    "polished and professional quality",
    "true-to-life proportions",
    "visible canvas texture",
    "award-winning composition",
    "subtle depth and dimensionality",
    "crisp edges with soft falloff",
    "exquisite detail",
    "clean and uncluttered details",
)

# Used only for an empty prompt, so that the image still has a subject rather than noise.
SUBJECTS: tuple[str, ...] = (
    "a quiet lakeside at dawn",
    "a lighthouse on a rocky coast",
    "a cozy reading nook by a rain-streaked window",
    "a mountain valley with a winding river",
    "a still life of fruit and flowers on a wooden table",
    "a small village street after rain",
    "a field of wildflowers under a wide sky",
    "an old stone bridge in a misty forest",
    "a sailboat on a calm sea",
    "a greenhouse full of ferns and orchids",
    "a desert landscape with sculpted dunes",
    "a snowy cabin among pine trees",
)

CATEGORIES: tuple[tuple[str, ...], ...] = (LIGHTING, COMPOSITION, STYLE, ATMOSPHERE, DETAIL)


class OfflineUpsampler:
    """Keeps the prompt first and appends one detail from each curated category."""

    def upsample(self, prompt: str, seed: int) -> str:
        subject = " ".join(prompt.split()).rstrip(" ,.;")
        # A string seed is hashed with SHA-512 by `random`, independent of PYTHONHASHSEED, so the
        # choice is stable across processes and Python versions.
        rng = random.Random(f"{seed}:{prompt}")
        if not subject:
            subject = rng.choice(SUBJECTS)
        details = [rng.choice(vocabulary) for vocabulary in CATEGORIES]
        return ", ".join([subject, *details])
