"""Liveness: the person must say the phrase we gave them (signed challenges, checked on the decoded audio)."""
