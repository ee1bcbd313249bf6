"""Enrichment: pseudonyms, evidence storage, and (later) links, language and media hashes."""
