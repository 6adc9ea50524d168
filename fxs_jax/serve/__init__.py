"""The expression editor in the browser: ``python -m fxs_jax.serve`` (the ``serve`` extra).

``app.create_app(models)`` is the Starlette app (a static page in ``static/`` and a JSON API);
``runner`` batches each model's predictions on its own thread at fixed batch sizes (compiled
once, at start-up); ``sessions`` holds photos (faces found once per upload) and results by id;
``ops`` turns the page's controls into each recipe's batches; ``media`` encodes what the page
shows and downloads.
"""
