"""TFDS dataset builders of fxs_jax.

Installed under the unique import name ``fxs_jax_datasets`` (see ``pyproject.toml``) so that it never
shadows the PyPI package called ``datasets``. Each sub-folder follows the ``tfds new`` layout.
"""
