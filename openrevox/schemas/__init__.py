"""The wire: request models (validated) and renderers (rows → the SDK's JSON shapes)."""
