"""One decode per request: a video's frames and audio, or a still image, in memory."""
