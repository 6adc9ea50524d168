"""The generic GAN trainer: mesh, jitted critic/generator steps, checkpoints, logs, samples."""
