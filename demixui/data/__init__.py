"""Training and evaluation data: the procedural multitrack generator and the MUSDB18-HQ folder layout."""
