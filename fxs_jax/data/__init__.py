"""Datasets, the SynthFaces renderer and the input pipeline."""
