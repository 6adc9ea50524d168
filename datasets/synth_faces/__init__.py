"""SynthFaces: procedural faces with exact landmarks, AUs, emotions and identities."""
