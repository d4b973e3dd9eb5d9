"""Billing: plans, add-ons and limits, paid tickets and payment providers."""
