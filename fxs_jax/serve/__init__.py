"""The expression editor in the browser: ``python -m fxs_jax.serve`` (the ``serve`` extra).

``app.create_app(models)`` is the Starlette app (a static page in ``static/`` and a JSON API);
``runner`` batches each model's predictions on its own thread at fixed batch sizes (compiled
once, at start-up); ``sessions`` reads photos (faces found once per upload); ``store`` keeps
photos and results by id in one memory budget; ``payload`` checks request bodies field by field;
``guard`` refuses other sites' pages; ``limits`` states every limit; ``ops`` turns the page's
controls into each recipe's batches; ``media`` encodes what the page shows and downloads.
"""
