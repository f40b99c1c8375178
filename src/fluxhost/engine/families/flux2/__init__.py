"""The FLUX.2 family: FLUX.2 [dev] (Flux2Pipeline) and [klein] (Flux2KleinPipeline, and
Flux2KleinKVPipeline for the 9B KV checkpoint) serving the Flux2 request (`generation`); their
pipelines, built-in kinds and component sharing (`common`) and the dev model set's FLUX.2
pipelines (`dev`)."""
