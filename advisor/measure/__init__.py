"""Measure configs on this machine: sweeps of model × format × task, each config in a fresh
worker, every result appended to the store as soon as it is scored.

* :mod:`~advisor.measure.runner` — plan and run a sweep; it emits :class:`SweepEvent`\\ s,
  the faces draw them;
* :mod:`~advisor.measure.store` — the append-only JSON Lines store of :class:`Measurement`\\ s;
* :mod:`~advisor.measure.ladder` — quantization ladders made with ``llama_model_quantize``;
* :mod:`~advisor.measure.sources` — model files: paths, folders, HF repo ids, discovery;
* :mod:`~advisor.measure.backends` — llama.cpp and transformers + bitsandbytes, one
  interface, imported only when chosen;
* :mod:`~advisor.measure.tasks` — tasks as TOML data, their items and scoring.

Importing this package loads nothing heavy; the backends load their libraries on demand.
"""
