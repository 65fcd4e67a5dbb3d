"""Stream processors: energy, carbon and near-zero-carbon KPIs (not built yet; see issue 4)."""
