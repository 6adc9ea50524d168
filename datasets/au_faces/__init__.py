"""AU faces: a folder of face photos with OpenFace AU intensities (GANimation's EmotioNet data)."""
