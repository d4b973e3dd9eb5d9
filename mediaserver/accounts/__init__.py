"""Accounts: sign-up, log-in, sessions, API keys, additional users and sub-accounts."""
