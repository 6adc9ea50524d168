"""One recipe per paper: model init, the critic and generator losses, a sampler and metrics.

``RECIPES`` maps ``config.model_name`` to the module implementing it (a dict, not a registry
framework). Each recipe module exposes ``run(config, workdir, mode, sources)``.
"""

RECIPES: dict = {}
