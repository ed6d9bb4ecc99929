"""The face stage both detectors share: face detection (S3FD, MTCNN), scene cuts, tracks and crops."""
