"""The offline engine: deterministic rules, no key, no network. The default provider and the fallback."""
