"""Official weight files: provisioning with size and sha256 checks, and strict loading."""
