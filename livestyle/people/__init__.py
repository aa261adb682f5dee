"""People-aware processing: the person matte (MediaPipe selfie segmentation run by LiteRT), its model
files and how they are fetched.  Nothing here imports torch."""
