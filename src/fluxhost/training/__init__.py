"""Finetune training: turns uploaded images into a FLUX LoRA (see fluxhost.training.trainer)."""
