"""Build every guest component into build/guests/ — placeholder, replaced by the guests work."""
