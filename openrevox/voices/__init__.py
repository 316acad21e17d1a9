"""Voices of the configured TTS providers; with none configured, the sandbox voices."""
