"""Alert service: rules, lifecycle, channels (not built yet; see issue 5)."""
