"""Network intelligence: mirrors, lineages, rebrands, migration, graph."""
