"""The memory plan: what the configured kinds' weights need in their modes on this device, from
configs alone (nothing downloaded), and what to change when they do not fit.

published: the released models' configs as data; params: their parameter counts, from the
diffusers/transformers classes built on the meta device; plan: the arithmetic and advice
(torch-free); devices: this machine's GPUs or RAM; report: a plan for a Settings."""
