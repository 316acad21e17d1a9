"""Assistants: the reusable configuration of a voice agent."""
