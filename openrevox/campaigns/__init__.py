"""Campaigns: many call orders launched together from a list of contacts."""
