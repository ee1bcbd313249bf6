"""Exchange: what goes out of Undertow (record exports; later banks, STIX, graphs, reports)."""
