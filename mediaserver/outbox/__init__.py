"""Outgoing messages: e-mail, webhooks, and the dispatcher that delivers both."""
