"""The file library: file rules, and the address book's contacts import."""
