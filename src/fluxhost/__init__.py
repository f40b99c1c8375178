"""fluxhost: a self-hostable server for the FLUX finetune image API."""

__version__ = "0.1.0"
