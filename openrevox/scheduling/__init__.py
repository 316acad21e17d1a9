"""Calling windows, recipient time zones and the search for the next moment to dial."""
